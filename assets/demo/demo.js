// plexgate demo page: sign in, list the library, play through plexgate, and show every request
// with a verdict on where a Plex token was seen. A classic script, no build step; hls.js and
// dash.js are loaded before it. `window.plexgateDemo` lets the browser test suite drive it.
'use strict';
// Requests are watched and judged by watch.js (window.plexgateWatch), loaded first.
(() => {
  // '' at the root, '/plexgate' when served under a sub-path: whatever the browser used.
  const BASE = location.pathname.replace(/\/demo\/?$/, '');
  const $ = (id) => document.getElementById(id);
  const { abs, render, verdict, problems } = window.plexgateWatch;
  const records = window.plexgateWatch.records();

  // ---- the demo itself ----------------------------------------------------------------------
  let facade = null; // {baseUrl, token}
  let current = null; // {ratingKey, sessionId, url, protocol, t0, firstFrameMs, hls, dash}
  const titles = new Map(); // ratingKey → title, for messages
  const video = $('video');
  const status = (text) => { $('player-status').textContent = text; };
  const withToken = (url) => `${url}${url.includes('?') ? '&' : '?'}X-Plex-Token=${encodeURIComponent(facade.token)}`;

  // An error as a sentence a person can read; the code stays available to the test suite.
  class PageError extends Error {
    constructor(message, code) { super(message); this.code = code; }
  }

  async function json(url, init) {
    let resp;
    try {
      resp = await fetch(url, init);
    } catch {
      throw new PageError('plexgate did not answer; is it still running?', 'network');
    }
    const body = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      const m = body.error ? body.error.message : `plexgate answered HTTP ${resp.status}`;
      throw new PageError(`${m.charAt(0).toUpperCase()}${m.slice(1)}${/[.!?]$/.test(m) ? '' : '.'}`, body.error ? body.error.code : `http_${resp.status}`);
    }
    return body;
  }

  let retryAction = null;
  function fail(what, e, retry) {
    $('problem-text').textContent = `${what}: ${e.message}`;
    $('problem').hidden = false;
    retryAction = retry;
  }
  function clearProblem() {
    $('problem').hidden = true;
    retryAction = null;
  }
  $('retry').addEventListener('click', () => { const r = retryAction; clearProblem(); if (r) r(); });

  async function signIn() {
    await json(`${BASE}/api/auth/demo-login`, { method: 'POST' });
    $('signin').textContent = 'Signed in as the demo user (a session cookie, nothing else).';
    const servers = await json(`${BASE}/api/auth/servers`);
    if (!servers.length) throw new Error('no Plex server is set up');
    facade = { baseUrl: servers[0].baseUrl, token: servers[0].token };
    $('server-name').textContent = servers[0].name;
    $('base-url').textContent = facade.baseUrl.replace(facade.token, `‹ticket ${facade.token.slice(0, 6)}…›`);
    $('facade').hidden = false;
  }

  const headers = { Accept: 'application/json' };
  const plexGet = (path) => json(withToken(`${facade.baseUrl}${path}`), { headers });

  function itemButton(m, label) {
    titles.set(String(m.ratingKey), label);
    const b = document.createElement('button');
    b.className = 'item';
    b.type = 'button';
    b.dataset.ratingKey = m.ratingKey;
    b.dataset.type = m.type;
    const img = document.createElement('img');
    img.alt = `Poster of ${label}`;
    if (m.thumb) img.src = withToken(`${facade.baseUrl}/photo/:/transcode?width=312&height=468&minSize=1&upscale=1&url=${encodeURIComponent(m.thumb)}`);
    const title = document.createElement('span');
    title.textContent = label;
    b.append(img, title);
    b.addEventListener('click', () => play(m.ratingKey).catch(() => { /* shown by play */ }));
    return b;
  }

  function group(title, buttons) {
    const g = document.createElement('div');
    g.className = 'group';
    const h = document.createElement('h3');
    h.textContent = title;
    const row = document.createElement('div');
    row.className = 'row';
    row.append(...buttons);
    g.append(h, row);
    return g;
  }

  async function listLibrary() {
    const sections = await plexGet('/library/sections');
    const groups = [];
    const items = [];
    for (const s of sections.MediaContainer.Directory || []) {
      const all = (await plexGet(`/library/sections/${s.key}/all`)).MediaContainer.Metadata || [];
      if (s.type === 'show') {
        // A show is played episode by episode: list each show with its episodes.
        for (const show of all) {
          const eps = (await plexGet(`/library/metadata/${show.ratingKey}/allLeaves`)).MediaContainer.Metadata || [];
          items.push(...eps);
          groups.push(group(`${show.title} (TV show, ${eps.length} episodes)`,
            eps.map((e) => itemButton(e, `S${e.parentIndex}E${e.index} · ${e.title}`))));
        }
      } else {
        const playable = all.filter((m) => m.type === 'movie');
        items.push(...playable);
        groups.push(group(s.title, playable.map((m) => itemButton(m, `${m.title}${m.year ? ` (${m.year})` : ''}`))));
      }
    }
    $('items').replaceChildren(...groups);
    return items;
  }

  // The audio and subtitle streams of an item, as the pickers offer them.
  async function fillPickers(ratingKey) {
    const meta = await plexGet(`/library/metadata/${encodeURIComponent(ratingKey)}`);
    const m = (meta.MediaContainer.Metadata || [])[0] || {};
    const streams = ((((m.Media || [])[0] || {}).Part || [])[0] || {}).Stream || [];
    const fill = (select, type, first) => {
      const keep = select.value;
      const options = streams.filter((x) => x.streamType === type).map((x) => {
        const o = document.createElement('option');
        o.value = String(x.id);
        o.textContent = x.displayTitle || x.language || `stream ${x.id}`;
        return o;
      });
      const none = document.createElement('option');
      none.value = first[0];
      none.textContent = first[1];
      select.replaceChildren(none, ...options);
      select.value = options.some((o) => o.value === keep) ? keep : first[0];
    };
    fill($('audio'), 2, ['', 'default']);
    fill($('subtitle'), 3, ['0', 'none']);
  }

  function streamQuery(protocol, offset) {
    if (protocol === 'direct') return 'protocol=hls&mode=direct';
    const q = new URLSearchParams({ protocol });
    if ($('quality').value !== 'original') q.set('quality', $('quality').value);
    if ($('audio').value) q.set('audioStreamID', $('audio').value);
    if ($('subtitle').value !== '0') q.set('subtitleStreamID', $('subtitle').value);
    if (offset > 0) q.set('offset', offset.toFixed(1));
    return q.toString();
  }

  function detach() {
    if (!current) return;
    if (current.hls) current.hls.destroy();
    if (current.dash) current.dash.destroy();
    video.removeAttribute('src');
    video.load();
  }

  // `options` ({quality, audio, subtitle, offset}) set the pickers first, as a click would.
  async function play(ratingKey, protocol, options = {}) {
    try {
      clearProblem();
      return await start(String(ratingKey), protocol, options);
    } catch (e) {
      status('Nothing playing.');
      fail(`Could not play “${titles.get(String(ratingKey)) || ratingKey}”`, e, () => play(ratingKey, protocol, options));
      throw e;
    }
  }

  async function start(ratingKey, protocol, options) {
    protocol = protocol || document.querySelector('input[name=protocol]:checked').value;
    const switching = current && current.ratingKey === ratingKey;
    await stop();
    if (!switching) await fillPickers(ratingKey);
    for (const k of ['quality', 'audio', 'subtitle']) if (options[k] != null) $(k).value = String(options[k]);
    const t0 = performance.now();
    status(`Asking plexgate for a ${protocol} stream…`);
    const s = await json(`${BASE}/api/plex/stream/${encodeURIComponent(ratingKey)}?${streamQuery(protocol, options.offset || 0)}`);
    // Players get an absolute URL: dash.js 5's CMCD reporter warns on relative ones.
    const url = abs(s.url);
    current = { ratingKey, sessionId: s.sessionId, url, protocol, t0, firstFrameMs: null };
    $('stop').disabled = false;
    if (url.includes('.mpd')) {
      const player = dashjs.MediaPlayer().create();
      player.updateSettings({ debug: { logLevel: dashjs.Debug.LOG_LEVEL_WARNING } });
      player.on(dashjs.MediaPlayer.events.ERROR, (e) => fail('The player stopped', new Error(`dash.js reports ${(e.error && e.error.message) || 'an error'}.`), () => play(ratingKey, protocol)));
      player.initialize(video, url, true);
      current.dash = player;
    } else if (window.Hls && Hls.isSupported()) {
      const hls = new Hls({ xhrSetup: (xhr) => { xhr.withCredentials = true; } });
      hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) fail('The player stopped', new Error(`hls.js reports ${d.details}.`), () => play(ratingKey, protocol)); });
      hls.loadSource(url);
      hls.attachMedia(video);
      current.hls = hls;
    } else {
      video.src = url;
    }
    const mine = current;
    video.requestVideoFrameCallback(() => {
      if (mine !== current) return;
      mine.firstFrameMs = Math.round(performance.now() - mine.t0);
      status(`Playing via ${protocol.toUpperCase()} through plexgate: first frame after ${mine.firstFrameMs} ms.`);
    });
    video.play().catch(() => { /* autoplay refused: the user presses play */ });
    return current;
  }

  async function stop() {
    const was = current;
    detach();
    current = null;
    $('stop').disabled = true;
    if (!was || !was.sessionId) return null;
    await json(`${BASE}/api/plex/stream/${was.sessionId}/stop`, { method: 'POST' });
    // Prove it: a media URL of the stopped session no longer works.
    const ticket = (was.url.match(/\/api\/plex\/proxy\/([A-Za-z0-9_-]+)\//) || [])[1];
    const seg = [...records].reverse().find((r) => ticket && r.url.includes(ticket) && !/start\.(m3u8|mpd)/.test(r.url));
    let proof = null;
    if (seg) {
      const resp = await fetch(seg.url, { cache: 'no-store' });
      const body = await resp.json().catch(() => ({}));
      proof = { status: resp.status, code: body.error && body.error.code, url: seg.url };
      status(`Stopped. The ticket is revoked: a segment URL now answers ${proof.status} ${proof.code || ''}.`);
    } else {
      status('Stopped; the ticket is revoked.');
    }
    return proof;
  }

  $('stop').addEventListener('click', () => stop().catch((e) => fail('Could not stop', e, stop)));
  // A picker changed while playing: the same item again, from where it was, with the new choice.
  for (const id of ['quality', 'audio', 'subtitle']) {
    $(id).addEventListener('change', () => {
      if (current) play(current.ratingKey, current.protocol, { offset: video.currentTime }).catch(() => {});
    });
  }

  async function begin() {
    try {
      clearProblem();
      $('signin').textContent = 'Signing in as the demo user…';
      await signIn();
      const items = await listLibrary();
      window.plexgateWatch.started();
      return items.length;
    } catch (e) {
      $('signin').textContent = 'Not signed in.';
      fail('Could not start the demo', e, () => { window.plexgateDemo.ready = begin(); });
      throw e;
    } finally {
      render();
    }
  }
  const ready = begin();

  window.plexgateDemo = {
    ready,
    play,
    stop,
    verdict,
    problems,
    records: () => records.map((r) => ({ ...r })),
    current: () => current && { ratingKey: current.ratingKey, sessionId: current.sessionId, protocol: current.protocol, firstFrameMs: current.firstFrameMs, url: current.url },
    problem: () => ($('problem').hidden ? null : $('problem-text').textContent),
    video,
  };
})();
