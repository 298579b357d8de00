// The owner page suite: sign in at `/` through the (fake) plex.tv PIN flow, see this plexgate,
// its server and a playback started in the same browser, revoke it, and prove the stream is cut.
// Pushes {name, ok, detail} checks into result.checks like the other suites.

export async function runOwner(context, rec, result, o) {
  const check = (name, ok, detail = '') => result.checks.push({ name, ok: Boolean(ok), detail: String(detail) });
  const origin = o.origin.replace(/\/$/, '');
  // Signed out, the page's first look at /api/admin/… is a 401 by design.
  for (const p of ['status', 'servers', 'sessions', 'errors']) rec.expect(`${origin}/api/admin/${p}`);
  rec.label = 'owner page';
  const page = await context.newPage();
  await page.goto(`${origin}/`);
  const first = await page.evaluate(() => window.plexgateOwner.ready);
  check('owner page: signed out, it offers to sign in with Plex',
    first.role === 'signed-out' && await page.locator('#signin').isVisible(), JSON.stringify(first));

  await page.click('#signin');
  await page.waitForFunction(() => document.getElementById('pin-code').textContent !== '');
  const link = await page.getAttribute('#pin-link', 'href');
  check('owner page: shows the PIN code and a plex.tv link', /^https:\/\/app\.plex\.tv\/auth#\?/.test(link), link);
  await page.waitForSelector('#owner:not([hidden])', { timeout: 30000 });
  const version = await page.textContent('#version');
  check('owner page: once the PIN is approved the owner sees version and uptime',
    /^\d+\.\d+\.\d+/.test(version) && (await page.textContent('#uptime')) !== '', version);
  const server = await page.locator('#servers tr').first().innerText();
  check('owner page: the server is listed as reachable with its address', /yes, \d+ ms/.test(server) && /http:\/\/127\.0\.0\.1:\d+/.test(server), server);

  // A playback in this browser, the way a player starts one: stream URL, manifests, a segment.
  rec.label = 'owner page playback';
  const play = await page.evaluate(async () => {
    const s = await (await fetch('api/plex/stream/101?protocol=hls')).json();
    let url = new URL(s.url, location.href).href;
    for (let i = 0; i < 3; i += 1) {
      const text = await (await fetch(url)).text();
      if (!text.startsWith('#EXTM3U')) break;
      url = new URL(text.split('\n').find((l) => l && !l.startsWith('#')), url).href;
    }
    return { id: s.sessionId, segment: url };
  });
  await page.evaluate(() => window.plexgateOwner.refresh());
  const row = page.locator(`tr[data-session-id="${play.id}"]`);
  await row.waitFor({ timeout: 10000 });
  const cells = await row.locator('td').allInnerTexts();
  check('owner page: lists the live session with user, title, protocol and bytes',
    cells[0] === 'user777' && cells[1] !== '' && !cells[1].startsWith('item ') && cells[2] === 'hls' && !/^0 B$/.test(cells[3]),
    JSON.stringify(cells));
  if (o.screenshot) await page.screenshot({ path: o.screenshot, fullPage: true });

  rec.label = 'owner page revoke';
  rec.expect(play.segment);
  await row.locator('button.revoke').click();
  await row.waitFor({ state: 'detached', timeout: 10000 });
  const after = await page.evaluate(async (u) => {
    // Past the HTTP cache: the question is what plexgate answers now.
    const r = await fetch(u, { cache: 'no-store' });
    const j = await r.json().catch(() => ({}));
    return { status: r.status, code: j.error && j.error.code };
  }, play.segment);
  check('owner page: Revoke cuts the stream (its segment URL answers 403 ticket_revoked)',
    after.status === 403 && after.code === 'ticket_revoked', JSON.stringify(after));
  check('owner page: nothing is playing any more', await page.locator('#no-sessions').isVisible());
  await page.close();
}

// Anyone else (the fake plex.tv approves the PIN as a friend the owner shares a server with):
// signed in, told there is nothing to administer, and no admin data on the page.
export async function runOwnerOther(context, rec, result, o) {
  const check = (name, ok, detail = '') => result.checks.push({ name, ok: Boolean(ok), detail: String(detail) });
  const origin = o.origin.replace(/\/$/, '');
  for (const p of ['status', 'servers', 'sessions', 'errors']) rec.expect(`${origin}/api/admin/${p}`);
  rec.label = 'owner page, someone else';
  const page = await context.newPage();
  await page.goto(`${origin}/`);
  await page.evaluate(() => window.plexgateOwner.ready);
  await page.click('#signin');
  await page.waitForSelector('#not-owner:not([hidden])', { timeout: 30000 });
  const who = await page.textContent('#who');
  const text = await page.innerText('#not-owner');
  check('owner page: anyone else is signed in with nothing to administer',
    who === 'Friend' && /nothing to administer/.test(text) && await page.locator('#owner').isHidden(), `${who}: ${text}`);
  const rows = await page.locator('#sessions tr, #servers tr').count();
  check('owner page: no server or session is shown to them', rows === 0, `${rows} rows`);
  if (o.screenshot) await page.screenshot({ path: o.screenshot, fullPage: true });
  await page.close();
}
