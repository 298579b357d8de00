// The suites run.mjs can run. Each pushes {name, ok, detail} checks into result.checks;
// a step that throws becomes one failed check, and the suite goes on with the next step.
import path from 'node:path';
import { demoPolish } from './demo_polish.mjs';

const MEDIA = /\/(\d+\.(ts|m4s)|header|file\.mp4)(\?|$)/;
const SEEK_TO = 7; // 70 % of the 10 s demo title: inside segment 3 (6–8 s)
const SEGMENT_AT_SEEK = /\/0*3\.(ts|m4s)(\?|$)/;
const LOW_KBPS = 200; // below the 360 kbps rendition: only the 320x180 one fits

function checker(result) {
  return (name, ok, detail = '') => result.checks.push({ name, ok: Boolean(ok), detail: String(detail) });
}

async function step(result, name, fn) {
  try {
    await fn();
  } catch (e) {
    result.checks.push({ name: `${name}: ran to the end`, ok: false, detail: String(e && e.message ? e.message : e) });
  }
}

/** Opens the harness on `origin` (plexgate, or the demo Plex for the baseline). */
async function openHarness(context, here, origin) {
  const page = await context.newPage();
  // No HTTP cache: every playback fetches what it plays, so times and byte counts compare.
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  const prefix = `${origin.replace(/\/$/, '')}/__plexgate_suite/`;
  const files = {
    'harness.html': [path.join(here, 'harness.html'), 'text/html; charset=utf-8'],
    'harness.js': [path.join(here, 'harness.js'), 'text/javascript'],
    'hls.min.js': [path.join(here, 'node_modules/hls.js/dist/hls.min.js'), 'text/javascript'],
    'dash.mediaplayer.min.js': [path.join(here, 'node_modules/dashjs/dist/modern/umd/dash.mediaplayer.min.js'), 'text/javascript'],
  };
  // Routing is on only while the page loads: with a route active every request detours
  // through this process, which would distort timings.
  await page.route(`${prefix}**`, (route) => {
    const f = files[new URL(route.request().url()).pathname.split('/').pop()];
    return f ? route.fulfill({ path: f[0], contentType: f[1] }) : route.fulfill({ status: 404, body: '' });
  });
  await page.goto(`${prefix}harness.html`);
  await page.waitForFunction(() => window.suite && window.Hls && window.dashjs);
  await page.unrouteAll({ behavior: 'wait' });
  await page.evaluate((base) => { window.suite.base = base; }, new URL(origin).pathname.replace(/\/$/, ''));
  return page;
}

/** Fetches `url` in the page expecting an error status (so its console line is expected). */
async function fetchExpecting(page, rec, origin, url) {
  rec.expect(new URL(url, origin).href);
  return page.evaluate((u) => window.suite.fetchStatus(u), url);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : null;
};

// ---- full: every format, both ways, the demo page ----------------------------------------------

export async function runFull(context, rec, result, o) {
  const check = checker(result);
  await step(result, 'demo page', () => demoPage(context, rec, result, o, check));
  await step(result, 'demo page polish', () => demoPolish(context, rec, result, o, check));

  const page = await openHarness(context, o.here, o.origin);
  const ev = (fn, arg) => page.evaluate(fn, arg);
  rec.label = 'harness sign-in';
  const f = await ev(() => window.suite.signIn());
  check('servers: baseUrl is a plexgate proxy path ending in the token, which is a ticket',
    f.baseUrl.includes('/api/plex/proxy/') && f.baseUrl.endsWith(`/${f.token}`), f.baseUrl);
  const sidecar = await ev((x) => window.suite.sidecarUrl(x), f);

  for (const protocol of ['hls', 'dash']) {
    await step(result, `stream ${protocol}`, () => streamCase(page, rec, result, o, check, protocol, sidecar));
  }
  for (const format of ['hls-ts', 'hls-fmp4', 'dash', 'part']) {
    await step(result, `facade ${format}`, () => facadeCase(page, rec, result, o, check, f, format, sidecar));
  }

  await step(result, 'logout', async () => {
    rec.label = 'logout';
    const status = await ev(() => window.suite.logout());
    const after = await fetchExpecting(page, rec, o.origin, `${f.baseUrl}/library/sections?X-Plex-Token=${f.token}`);
    check('logout revokes the facade ticket: 403 ticket_revoked', status === 200 && after.status === 403 && after.code === 'ticket_revoked',
      `logout ${status}, then ${JSON.stringify(after)}`);
  });
  // Non-fatal player errors (hls.js ERROR events with fatal=false), for the report.
  result.playerWarnings = [...new Set(await ev(() => window.suite.warnings))];
  await rec.settle();
  for (const p of Object.values(result.playbacks)) Object.assign(p, rec.stats(p.label));
}

async function demoPage(context, rec, result, o, check) {
  rec.label = 'demo page';
  const page = await context.newPage();
  await page.goto(`${o.origin}/demo`);
  const items = await page.evaluate(() => window.plexgateDemo.ready);
  check('demo page: signs in and lists the library', items >= 1, `${items} item(s)`);
  // The poster loads after the list renders: wait for the image to finish (or fail) first.
  await page.waitForFunction(() => document.querySelector('#items img')?.complete === true,
    null, { timeout: 15000 }).catch(() => {});
  const poster = await page.evaluate(() => document.querySelector('#items img')?.naturalWidth ?? 0);
  check('demo page: poster loaded through the facade photo transcode', poster > 0, `naturalWidth ${poster}`);
  for (const protocol of ['hls', 'dash']) {
    rec.label = `demo page ${protocol}`;
    const proof = await page.evaluate((p) => window.plexgateDemo.play('101', p).then(() => null), protocol);
    void proof;
    await page.waitForFunction(() => window.plexgateDemo.video.currentTime > 3 && window.plexgateDemo.current()?.firstFrameMs != null,
      null, { timeout: 20000 });
    const cur = await page.evaluate(() => window.plexgateDemo.current());
    result.playbacks[`demo page ${protocol}`] = { label: rec.label, via: 'demo page', format: protocol, ttffMs: cur.firstFrameMs };
    check(`demo page: ${protocol} plays past 3 s`, true, `first frame after ${cur.firstFrameMs} ms`);
  }
  await page.evaluate(() => window.plexgateDemo.video.pause());
  await page.waitForTimeout(300); // let the request panel render
  const verdict = await page.evaluate(() => document.getElementById('verdict').textContent);
  if (o.screenshot) await page.screenshot({ path: o.screenshot, fullPage: true });
  result.verdict = verdict;
  check('demo page: verdict after playback is exactly "Plex token seen: nowhere"', verdict === 'Plex token seen: nowhere', verdict);
  rec.label = 'demo page stop';
  const proof = await page.evaluate(() => window.plexgateDemo.stop());
  if (proof) rec.expect(proof.url);
  check('demo page: stop revokes the ticket (a segment URL answers 403 ticket_revoked)',
    proof && proof.status === 403 && proof.code === 'ticket_revoked', JSON.stringify(proof));
  // The earlier switch from HLS to DASH stopped the HLS session the same way.
  for (const r of await page.evaluate(() => window.plexgateDemo.records())) {
    if (r.status === 403 && r.by === 'fetch') rec.expect(r.url);
  }
  const after = await page.evaluate(() => document.getElementById('verdict').textContent);
  check('demo page: verdict still "Plex token seen: nowhere" after stopping', after === 'Plex token seen: nowhere', after);
  await page.close();
}

/** Common steps after the first frame: sidecar cues, then a seek to 70 % that plays on. */
async function startAndSeek(page, rec, check, name, media) {
  const ev = (fn, arg) => page.evaluate(fn, arg);
  const st = await ev(() => window.suite.waitTime(3));
  check(`${name}: starts and plays past 3 s`, true, `first frame after ${Math.round(st.firstFrameMs)} ms`);
  const ttffMs = Math.round(st.firstFrameMs);
  // Seek at once, before the 2 s forward buffer reaches segment 3.
  const mark = rec.net.length;
  await ev((t) => window.suite.seek(t), SEEK_TO);
  const after = await ev((t) => window.suite.waitTime(t), SEEK_TO + 0.5);
  const fetched = rec.net.slice(mark).filter((e) => MEDIA.test(e.url) && e.label === name);
  if (media.sidecar) {
    const c = await ev(() => window.suite.waitCues());
    check(`${name}: WebVTT sidecar <track> (/library/streams/403 via the facade) delivers cues`, c.activeCues > 0, `"${c.cueText}`);
  }
  if (media.part) {
    const ranged = rec.net.filter((e) => e.label === name && e.requestHeaders?.range && e.status === 206);
    check(`${name}: seek to 70 % plays on`, after.currentTime > SEEK_TO, `t=${after.currentTime.toFixed(2)}`);
    check(`${name}: Chromium's Range requests get 206 through plexgate`, ranged.length > 0,
      ranged.map((e) => `${e.requestHeaders.range} → ${e.responseHeaders?.['content-range']}`).join(', '));
  } else {
    // Normally segment 3 is not buffered yet and the seek fetches it; on a slow machine the
    // player may have fetched it already, and then any later segment request shows the same.
    const hit = fetched.filter((e) => SEGMENT_AT_SEEK.test(e.url));
    const early = rec.net.slice(0, mark).some((e) => e.label === name && SEGMENT_AT_SEEK.test(e.url));
    check(`${name}: seek to 70 % lands in segment 3, fetches new segments and plays on`,
      (hit.length > 0 || (early && fetched.length > 0)) && after.currentTime > SEEK_TO,
      `t=${after.currentTime.toFixed(2)}, ${fetched.length} media request(s) after the seek${hit.length ? ', segment 3 among them' : ''}`);
  }
  return ttffMs;
}

async function streamCase(page, rec, result, o, check, protocol, sidecar) {
  const name = `stream ${protocol}`;
  rec.label = name;
  const ev = (fn, arg) => page.evaluate(fn, arg);
  const ext = protocol === 'hls' ? '.m3u8' : '.mpd';

  const t0 = await ev(() => performance.now());
  const a = await ev((q) => window.suite.streamUrl(q), { protocol });
  check(`${name}: /api/plex/stream answers a proxy URL with ${ext} in its path`,
    a.url.includes('/api/plex/proxy/') && new URL(a.url, o.origin).pathname.endsWith(ext), a.url.slice(0, 40));
  await ev((x) => window.suite.attach(x.url, { t0: x.t0, track: x.sidecar }), { url: a.url, t0, sidecar });
  const ttffMs = await startAndSeek(page, rec, check, name, { sidecar });
  result.playbacks[name] = { label: name, via: 'stream URL', format: protocol === 'hls' ? 'hls-ts' : 'dash', ttffMs };

  // Quality switch the frontend's way: a new /api/plex/stream with a lower quality, seek back.
  let pos = (await ev(() => window.suite.state())).currentTime;
  const oldMedia = rec.lastMedia(name);
  const b = await ev((q) => window.suite.streamUrl(q), { protocol, quality: String(LOW_KBPS) });
  await ev((x) => window.suite.attach(x.url, { startAt: x.pos, track: x.sidecar }), { url: b.url, pos, sidecar });
  let st = await ev((t) => window.suite.waitTime(t), pos + 0.8);
  check(`${name}: quality switch (quality=${LOW_KBPS}, new session) keeps playing at 320x180`,
    st.videoHeight === 180, `videoHeight ${st.videoHeight}, t=${st.currentTime.toFixed(2)}`);
  const replaced = await fetchExpecting(page, rec, o.origin, oldMedia.url);
  check(`${name}: the replaced session's segment URL answers 403 ticket_revoked`,
    replaced.status === 403 && replaced.code === 'ticket_revoked', JSON.stringify(replaced));

  // Audio and subtitle switch: another new session with the stream ids.
  pos = st.currentTime;
  const c = await ev((q) => window.suite.streamUrl(q), { protocol, audioStreamID: '402', subtitleStreamID: '403' });
  await ev((x) => window.suite.attach(x.url, { startAt: x.pos, track: x.sidecar }), { url: c.url, pos, sidecar });
  st = await ev((t) => window.suite.waitTime(t), pos + 0.6);
  check(`${name}: audio/subtitle switch (audioStreamID=402, subtitleStreamID=403, new session) keeps playing`,
    st.errors.length === 0, `t=${st.currentTime.toFixed(2)} ${st.errors.join(' ')}`);

  // Stop: the ticket is revoked at once.
  const last = rec.lastMedia(name);
  const stopped = await ev((id) => window.suite.stopStream(id), c.sessionId);
  await ev(() => window.suite.detach());
  const after = await fetchExpecting(page, rec, o.origin, last.url);
  check(`${name}: stop revokes the ticket: a segment URL answers 403 ticket_revoked`,
    stopped === 200 && after.status === 403 && after.code === 'ticket_revoked', `stop ${stopped}, then ${JSON.stringify(after)}`);
}

async function facadeCase(page, rec, result, o, check, f, format, sidecarUrl) {
  const name = `facade ${format}`;
  rec.label = name;
  const ev = (fn, arg) => page.evaluate(fn, arg);
  const part = format === 'part';
  const protocol = format === 'dash' ? 'dash' : 'hls';
  const base = { protocol, container: format === 'hls-fmp4' ? 'mp4' : undefined, directPlay: part };
  const sidecar = format === 'dash' || part ? sidecarUrl : undefined;
  const tag = Math.random().toString(16).slice(2, 8);
  let n = 0;
  const session = () => `suite-${format}-${tag}-${++n}`;
  const facadeUrl = (opts) => ev((x) => window.suite.facadeUrl(x.f, x.opts), { f, opts });

  const t0 = await ev(() => performance.now());
  let sid = session();
  const url = await facadeUrl({ ...base, session: sid });
  await ev((x) => window.suite.attach(x.url, { t0: x.t0, track: x.sidecar }), { url, t0, sidecar });
  const ttffMs = await startAndSeek(page, rec, check, name, { sidecar, part });
  result.playbacks[name] = { label: name, via: 'facade', format, ttffMs };
  if (part) {
    await ev(() => window.suite.detach());
    return;
  }

  // Quality switch the Flixor player's way: stop the old session, decision + start with a cap.
  let pos = (await ev(() => window.suite.state())).currentTime;
  let oldMedia = rec.lastMedia(name);
  const stopA = await ev((x) => window.suite.facadeStop(x.f, x.sid), { f, sid });
  sid = session();
  const low = await facadeUrl({ ...base, session: sid, quality: LOW_KBPS });
  await ev((x) => window.suite.attach(x.url, { startAt: x.pos, track: x.sidecar }), { url: low, pos, sidecar });
  let st = await ev((t) => window.suite.waitTime(t), pos + 0.8);
  check(`${name}: quality switch (stop, maxVideoBitrate=${LOW_KBPS}, new session) keeps playing at 320x180`,
    stopA === 200 && st.videoHeight === 180, `stop ${stopA}, videoHeight ${st.videoHeight}, t=${st.currentTime.toFixed(2)}`);
  const gone = await fetchExpecting(page, rec, o.origin, oldMedia.url);
  check(`${name}: the stopped transcode's segment URL no longer serves media`, gone.status === 404, JSON.stringify(gone));

  // Audio/subtitle switch the Flixor player's way: PUT on the part, then a new session. HLS
  // gets the WebVTT rendition (subtitles=segmented) through hls.js; DASH keeps the sidecar.
  pos = st.currentTime;
  oldMedia = rec.lastMedia(name);
  const put = await ev((x) => window.suite.selectStreams(x.f, { audioStreamID: '402', subtitleStreamID: '403' }), { f });
  const stopB = await ev((x) => window.suite.facadeStop(x.f, x.sid), { f, sid });
  sid = session();
  const subtitles = protocol === 'hls' ? 'segmented' : 'sidecar';
  const subbed = await facadeUrl({ ...base, session: sid, audioStreamID: 402, subtitleStreamID: 403, subtitles });
  // Back 2 s, as a viewer turning subtitles on would, so a cue is still ahead in a 10 s clip.
  const back = Math.max(0, pos - 2);
  await ev((x) => window.suite.attach(x.url, { startAt: x.back, track: x.sidecar, hlsSubtitles: x.hls }),
    { url: subbed, back, sidecar, hls: protocol === 'hls' });
  st = await ev((t) => window.suite.waitTime(t), back + 0.6);
  check(`${name}: audio/subtitle switch (PUT part streams, stop, new session) keeps playing`,
    put === 200 && stopB === 200 && st.errors.length === 0, `PUT ${put}, stop ${stopB}, t=${st.currentTime.toFixed(2)} ${st.errors.join(' ')}`);
  if (protocol === 'hls') {
    const c = await ev(() => window.suite.waitCues());
    check(`${name}: the HLS WebVTT subtitle rendition (subtitles=segmented) delivers cues`, c.activeCues > 0, `"${c.cueText}`);
  }
  await ev((x) => window.suite.selectStreams(x.f, { subtitleStreamID: '0' }), { f });

  const last = rec.lastMedia(name);
  const stopC = await ev((x) => window.suite.facadeStop(x.f, x.sid), { f, sid });
  await ev(() => window.suite.detach());
  const after = await fetchExpecting(page, rec, o.origin, last.url);
  check(`${name}: stop ends the transcode: its segment URL no longer serves media`, stopC === 200 && after.status === 404,
    `stop ${stopC}, then ${JSON.stringify(after)}`);
}

// ---- direct: mode=direct with stream.allow_direct on --------------------------------------------

export async function runDirect(context, rec, result, o) {
  const check = checker(result);
  const page = await openHarness(context, o.here, o.origin);
  const ev = (fn, arg) => page.evaluate(fn, arg);
  rec.label = 'direct mode';
  await ev(() => window.suite.signIn());
  const s = await ev((q) => window.suite.streamUrl(q), { protocol: 'hls', mode: 'direct' });
  result.directUrlOrigin = new URL(s.url).origin;
  check('mode=direct answers a URL at the Plex origin', result.directUrlOrigin === new URL(o.plexOrigin).origin, result.directUrlOrigin);
  await ev((u) => window.suite.attach(u), s.url);
  try {
    const st = await ev(() => window.suite.waitTime(3, 8000));
    result.directPlayback = { played: true, detail: `first frame after ${Math.round(st.firstFrameMs)} ms` };
  } catch (e) {
    result.directPlayback = { played: false, detail: String(e.message || e).slice(0, 600) };
  }
  await ev(() => window.suite.detach());

  await step(result, 'demo page in direct mode', async () => {
    rec.label = 'direct mode demo page';
    const demo = await context.newPage();
    await demo.goto(`${o.origin}/demo`);
    await demo.evaluate(() => window.plexgateDemo.ready);
    await demo.evaluate(() => window.plexgateDemo.play('101', 'direct')).catch(() => {});
    await demo.waitForTimeout(1500);
    result.verdict = await demo.evaluate(() => document.getElementById('verdict').textContent);
    if (o.screenshot) await demo.screenshot({ path: o.screenshot, fullPage: true });
    check('demo page: the verdict names where a token was seen', result.verdict.startsWith('Plex token seen: ')
      && result.verdict !== 'Plex token seen: nowhere', result.verdict);
  });
  await rec.settle();
}

// ---- ttff: time to first frame per format and target, interleaved -----------------------------

export async function runTtff(context, rec, result, o) {
  const check = checker(result);
  const formats = ['hls-ts', 'hls-fmp4', 'dash', 'part'];
  const targets = [];
  for (const t of o.targets) {
    rec.label = `ttff ${t.name} sign-in`;
    const page = await openHarness(context, o.here, t.origin);
    const f = t.token ? { baseUrl: t.origin.replace(/\/$/, ''), token: t.token } : await page.evaluate(() => window.suite.signIn());
    targets.push({ ...t, page, f });
  }
  const samples = {};
  for (let rep = 1; rep <= o.reps; rep++) {
    for (const format of formats) {
      for (const t of targets) {
        const label = `ttff ${t.name} ${format} #${rep}`;
        rec.label = label;
        await t.page.bringToFront();
        const session = `ttff-${format}-${rep}-${Math.random().toString(16).slice(2, 8)}`;
        const opts = { protocol: format === 'dash' ? 'dash' : 'hls', container: format === 'hls-fmp4' ? 'mp4' : undefined, directPlay: format === 'part', session };
        try {
          const ms = await t.page.evaluate(async (x) => {
            const t0 = performance.now();
            const url = await window.suite.facadeUrl(x.f, x.opts);
            window.suite.attach(url, { t0, plexToken: x.baseline ? x.f.token : undefined });
            const st = await window.suite.waitTime(0, 15000);
            window.suite.detach();
            if (!x.opts.directPlay) await window.suite.facadeStop(x.f, x.opts.session);
            return st.firstFrameMs;
          }, { f: t.f, opts, baseline: Boolean(t.token) });
          ((samples[t.name] ??= {})[format] ??= []).push({ ms, label });
        } catch (e) {
          check(`${label}: plays`, false, String(e.message || e).slice(0, 400));
        }
      }
    }
  }
  await rec.settle();
  result.ttff = {};
  for (const [name, byFormat] of Object.entries(samples)) {
    for (const [format, xs] of Object.entries(byFormat)) {
      const stats = xs.map((x) => rec.stats(x.label));
      (result.ttff[name] ??= {})[format] = {
        medianMs: Math.round(median(xs.map((x) => x.ms))),
        samplesMs: xs.map((x) => Math.round(x.ms)),
        requests: median(stats.map((s) => s.requests)),
        bytes: median(stats.map((s) => s.bytes)),
      };
    }
  }
  if (o.demoPage) {
    for (const t of targets.filter((x) => !x.token)) {
      await step(result, `demo page at ${t.origin}`, async () => {
        rec.label = `demo page ${t.name}`;
        const page = await context.newPage();
        await page.goto(`${t.origin}/demo`);
        const items = await page.evaluate(() => window.plexgateDemo.ready);
        await page.evaluate(() => window.plexgateDemo.play('101', 'hls'));
        await page.waitForFunction(() => window.plexgateDemo.video.currentTime > 1, null, { timeout: 20000 });
        const proof = await page.evaluate(() => window.plexgateDemo.stop());
        if (proof) rec.expect(proof.url);
        const verdict = await page.evaluate(() => document.getElementById('verdict').textContent);
        check(`demo page at ${t.origin}: lists ${items} item(s), plays, revokes, "Plex token seen: nowhere"`,
          items >= 1 && proof && proof.status === 403 && verdict === 'Plex token seen: nowhere', `${JSON.stringify(proof)} ${verdict}`);
        await page.close();
      });
    }
  }
  for (const t of targets) check(`ttff ${t.name}: every format played ${o.reps}×`,
    formats.every((fm) => result.ttff[t.name]?.[fm]?.samplesMs.length === o.reps), JSON.stringify(result.ttff[t.name] ?? {}));
}

// ---- webroot: a built single-page app served by plexgate itself (web.root) -----------------------

/** Opens a deep link of the fixture app (tests/it/support/web_app.rs) on plexgate's origin: the
 * SPA fallback, the hashed asset, and same-origin API calls with credentials and no CORS. */
export async function runWebRoot(context, rec, result, o) {
  const check = checker(result);
  rec.label = 'web root';
  const page = await context.newPage();
  const resp = await page.goto(`${o.origin}/library/42?tab=info`);
  const type = resp.headers()['content-type'] || '';
  check('web root: a client-side route is answered with index.html', resp.status() === 200 && type.startsWith('text/html'),
    `${resp.status()} ${type}`);
  await page.waitForFunction(() => window.fixture, null, { timeout: 15000 });
  const f = await page.evaluate(() => window.fixture);
  result.fixture = f;
  check('web root: the hashed asset loaded and ran on the deep link', f.route === '/library/42', JSON.stringify(f));
  check('web root: sign-in from the same origin', f.login === 200, JSON.stringify(f));
  check('web root: /api/auth/session with credentials: include sees the session',
    f.status === 200 && f.session && f.session.authenticated === true, JSON.stringify(f.session));
  check('web root: no CORS header was needed', f.cors === null, String(f.cors));
  // A reload revalidates index.html and takes the immutable asset from the cache.
  await page.reload();
  await page.waitForFunction(() => window.fixture && window.fixture.status === 200, null, { timeout: 15000 });
  check('web root: a reload signs in again from the cookie', await page.evaluate(() => window.fixture.session.authenticated), '');
  await page.close();
}
