// plexgate owner page: sign in with Plex (PIN), then the owner's view of this install from
// /api/admin/…; anyone else learns they are signed in with nothing to administer. A classic
// script, no build step; every URL is relative to the page (which ends in '/'), so it works
// under a base path. `window.plexgateOwner` lets the browser test suite drive it.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const REFRESH_MS = 5000;
  let timer = null;

  class HttpError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }

  async function call(url, init) {
    const resp = await fetch(url, { credentials: 'same-origin', ...init });
    const body = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      const e = body.error || {};
      throw new HttpError(resp.status, e.code || 'http_error', e.message || `HTTP ${resp.status}`);
    }
    return body;
  }

  function show(id) {
    for (const s of ['checking', 'signed-out', 'not-owner', 'owner']) $(s).hidden = s !== id;
    $('signout').hidden = !(id === 'not-owner' || id === 'owner');
  }

  function problem(text) {
    $('problem').textContent = text || '';
    $('problem').hidden = !text;
  }

  const fmtBytes = (n) => (n >= 1048576 ? `${(n / 1048576).toFixed(2)} MB` : n >= 1024 ? `${(n / 1024).toFixed(1)} kB` : `${n} B`);
  const fmtTime = (unix) => new Date(unix * 1000).toLocaleTimeString();
  function fmtDuration(secs) {
    const d = Math.floor(secs / 86400), h = Math.floor((secs % 86400) / 3600), m = Math.floor((secs % 3600) / 60);
    return d ? `${d} d ${h} h` : h ? `${h} h ${m} min` : m ? `${m} min ${secs % 60} s` : `${secs} s`;
  }

  function row(cells) {
    const tr = document.createElement('tr');
    for (const c of cells) {
      const td = document.createElement('td');
      if (c instanceof Node) td.append(c); else td.textContent = c == null ? '' : String(c);
      tr.append(td);
    }
    return tr;
  }

  // ---- the owner's view ---------------------------------------------------------------------
  function renderServers(list) {
    $('servers').replaceChildren(...list.map((s) => {
      const state = document.createElement('span');
      state.className = s.reachable ? 'good' : 'bad';
      state.textContent = s.reachable ? `yes, ${s.latencyMs} ms` : `no: ${s.problem}`;
      const tr = row([`${s.name}${s.owned ? '' : ' (shared with you)'}`, s.address || '—', state]);
      tr.dataset.machineIdentifier = s.machineIdentifier;
      return tr;
    }));
  }

  function renderSessions(list) {
    $('sessions').replaceChildren(...list.map((s) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = 'Revoke';
      b.className = 'revoke';
      b.addEventListener('click', () => revoke(s.id, b));
      const tr = row([s.user, s.title, s.protocol || '—', fmtBytes(s.bytes), fmtTime(s.startedAt), fmtTime(s.lastActivityAt), b]);
      tr.dataset.sessionId = s.id;
      tr.children[3].className = 'num';
      return tr;
    }));
    $('no-sessions').hidden = list.length > 0;
  }

  function renderErrors(list) {
    $('errors').replaceChildren(...list.map((e) => row([fmtTime(e.at), e.upstream || '—', e.cause || '—', e.status || '', e.message])));
    $('no-errors').hidden = list.length > 0;
  }

  async function refresh() {
    const [status, servers, sessions, errors] = await Promise.all([
      call('api/admin/status'), call('api/admin/servers'), call('api/admin/sessions'), call('api/admin/errors'),
    ]);
    $('version').textContent = status.version;
    $('uptime').textContent = fmtDuration(status.uptimeSecs);
    $('owner-name').textContent = status.owner;
    renderServers(servers.servers);
    renderSessions(sessions.sessions);
    renderErrors(errors.errors);
    problem('');
    return { status, servers: servers.servers, sessions: sessions.sessions, errors: errors.errors };
  }

  async function revoke(id, button) {
    button.disabled = true;
    try {
      await call(`api/admin/sessions/${encodeURIComponent(id)}/revoke`, { method: 'POST' });
    } catch (e) {
      if (e.code !== 'session_not_found') problem(`Could not revoke the session: ${e.message}.`);
    }
    await refresh().catch(handle);
  }

  // ---- who is this ----------------------------------------------------------------------------
  async function decide() {
    clearInterval(timer);
    try {
      const view = await refresh();
      show('owner');
      timer = setInterval(() => refresh().catch(handle), REFRESH_MS);
      return { role: 'owner', view };
    } catch (e) {
      if (e.status === 401) { show('signed-out'); return { role: 'signed-out' }; }
      if (e.status === 403) {
        const me = await call('api/auth/session').catch(() => ({}));
        $('who').textContent = (me.user && (me.user.username || me.user.title)) || 'someone';
        show('not-owner');
        return { role: 'not-owner' };
      }
      throw e;
    }
  }

  function handle(e) {
    if (e instanceof HttpError && e.status === 401) { decide().catch(handle); return; }
    problem(`Something went wrong: ${e.message}. The page tries again on its own.`);
  }

  // ---- sign in with Plex (the PIN flow) -------------------------------------------------------
  function clientId() {
    let id = localStorage.getItem('plexgate.clientId');
    if (!id) {
      id = `plexgate-owner-${[...crypto.getRandomValues(new Uint8Array(12))].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
      localStorage.setItem('plexgate.clientId', id);
    }
    return id;
  }

  async function signIn() {
    $('signin').disabled = true;
    problem('');
    try {
      const id = clientId();
      const pin = await call('api/auth/plex/pin', {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ clientId: id }),
      });
      $('pin-code').textContent = pin.code;
      $('pin-link').href = pin.authUrl;
      $('pin').hidden = false;
      // plex.tv PINs live 15 minutes; after that the code cannot be approved any more.
      for (let i = 0; ; i += 1) {
        if (i >= 900) throw new Error('the code was not approved in time; sign in again');
        await new Promise((r) => setTimeout(r, 1000));
        const r = await call(`api/auth/plex/pin/${pin.id}?clientId=${encodeURIComponent(id)}`);
        if (r.authenticated) break;
      }
      $('pin').hidden = true;
      return await decide();
    } catch (e) {
      problem(`Could not sign in: ${e.message}.`);
      throw e;
    } finally {
      $('signin').disabled = false;
    }
  }

  $('signin').addEventListener('click', () => signIn().catch(() => { /* shown on the page */ }));
  $('signout').addEventListener('click', async () => {
    await call('api/auth/logout', { method: 'POST' }).catch(() => ({}));
    clearInterval(timer);
    show('signed-out');
  });

  const ready = decide().catch((e) => { handle(e); return { role: 'error', error: e.message }; });
  window.plexgateOwner = { ready, refresh, decide, signIn };
})();
