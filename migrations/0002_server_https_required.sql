-- plex.tv's `httpsRequired`: when set, plain http candidates must not be tried (the token would
-- cross the network in clear text to a server that refuses it anyway).
ALTER TABLE servers ADD COLUMN https_required INTEGER NOT NULL DEFAULT 0
    CHECK (https_required IN (0, 1));
