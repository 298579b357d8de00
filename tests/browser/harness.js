// The in-page half of the browser suite. run.mjs serves this page on the origin under test and
// drives `window.suite` with page.evaluate. It plays the demo title the two ways Flixor does:
//   - the frontend's: GET /api/plex/stream/:ratingKey, hand `url` to hls.js or dash.js;
//   - the player's: facade `baseUrl` + `token` → decision → start.m3u8/start.mpd in hls.js or
//     dash.js, or a direct-play part URL as a plain <video src> (Chromium sends its own Ranges).
'use strict';
window.suite = (() => {
  // Each attachment gets a fresh <video>, as a player component re-mounting would: text tracks
  // cannot be removed from an element, and a new hls.js would adopt the old ones.
  let video = document.getElementById('video');
  const RATING_KEY = '101';
  const PART_ID = '301';

  // Flixor's player settings (express-api.md §4.4.4), with the forward buffer scaled to the 10 s
  // demo clip: 2 s here is to this clip what 20 s is to a feature film, so a seek to 70 % has to
  // fetch segments it does not have yet, as it would in a real movie.
  const hlsConfig = {
    maxBufferLength: 2,
    maxMaxBufferLength: 2,
    maxBufferSize: 30 * 1000 * 1000,
    backBufferLength: 30,
    startLevel: -1,
    renderTextTracksNatively: true,
    xhrSetup: (xhr) => { xhr.withCredentials = true; },
  };
  const dashSettings = {
    debug: { logLevel: 2 }, // warnings and errors
    streaming: {
      buffer: {
        bufferTimeAtTopQuality: 2,
        bufferTimeAtTopQualityLongForm: 2,
        bufferTimeDefault: 2,
        bufferPruningInterval: 10,
        bufferToKeep: 10,
        fastSwitchEnabled: true,
        stallThreshold: 0.5,
      },
      abr: { autoSwitchBitrate: { video: false } },
      retryAttempts: { MPD: 3 },
      retryIntervals: { MPD: 500 },
      gaps: { jumpGaps: true },
    },
  };

  const s = {
    base: '', // plexgate's path prefix on this origin ('' or '/plexgate')
    clientId: `suite-${Math.random().toString(16).slice(2, 10)}`,
    cur: null, // the current attachment
    warnings: [], // non-fatal player errors, for the report
  };

  // Cues: count active cues per attachment, whichever track (ours or hls.js's) they come from.
  function watchCues(v) {
    v.textTracks.addEventListener('addtrack', (e) => {
      const track = e.track;
      track.addEventListener('cuechange', () => {
        if (s.cur && track.mode !== 'disabled' && track.activeCues && track.activeCues.length > 0) {
          s.cur.activeCues += 1;
          if (s.cur.cueText === null) {
            const cue = track.activeCues[0];
            s.cur.cueText = `${cue.text}" (${cue.startTime.toFixed(2)}–${cue.endTime.toFixed(2)} s) active at t=${v.currentTime.toFixed(2)}`;
          }
        }
      });
    });
  }
  watchCues(video);

  async function jsonOf(resp) {
    const text = await resp.text();
    try { return JSON.parse(text); } catch { return { text }; }
  }

  s.api = async (path, init = {}) => {
    const resp = await fetch(`${s.base}${path}`, { credentials: 'same-origin', ...init });
    return { status: resp.status, body: await jsonOf(resp) };
  };

  s.signIn = async () => {
    const login = await s.api('/api/auth/demo-login', { method: 'POST' });
    if (login.status !== 200) throw new Error(`demo-login: ${login.status} ${JSON.stringify(login.body)}`);
    const servers = await s.api('/api/auth/servers');
    if (servers.status !== 200) throw new Error(`servers: ${servers.status}`);
    const first = servers.body[0];
    return { baseUrl: first.baseUrl, token: first.token };
  };

  s.logout = async () => (await s.api('/api/auth/logout', { method: 'POST' })).status;

  // The frontend's way.
  s.streamUrl = async (query) => {
    const r = await s.api(`/api/plex/stream/${RATING_KEY}?${new URLSearchParams(query)}`);
    if (r.status !== 200) throw new Error(`/api/plex/stream ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body;
  };

  s.stopStream = async (sessionId) => (await s.api(`/api/plex/stream/${sessionId}/stop`, { method: 'POST' })).status;

  // The Flixor player's way: §4.4.3 parameters, identity and the token as query parameters.
  function facadeQuery(f, o) {
    const q = new URLSearchParams({
      hasMDE: '1',
      path: `/library/metadata/${RATING_KEY}`,
      mediaIndex: '0',
      partIndex: '0',
      protocol: o.protocol,
      fastSeek: '1',
      directPlay: o.directPlay ? '1' : '0',
      directStream: '1',
      directStreamAudio: '0',
      subtitleSize: '100',
      audioBoost: '100',
      location: 'lan',
      addDebugOverlay: '0',
      autoAdjustQuality: '0',
      mediaBufferSize: '102400',
      session: o.session,
      'X-Plex-Incomplete-Segments': '1',
      subtitles: o.subtitles || 'none',
    });
    if (o.container) q.set('container', o.container);
    if (o.quality) q.set('maxVideoBitrate', String(o.quality));
    if (o.subtitleStreamID !== undefined) q.set('subtitleStreamID', String(o.subtitleStreamID));
    if (o.audioStreamID !== undefined) q.set('audioStreamID', String(o.audioStreamID));
    const identity = {
      'X-Plex-Product': 'Flixor',
      'X-Plex-Version': '1.0.0',
      'X-Plex-Client-Identifier': s.clientId,
      'X-Plex-Platform': 'Web',
      'X-Plex-Device': 'Chrome',
      'X-Plex-Device-Name': 'Plex MPV Web',
      'X-Plex-Session-Identifier': o.session,
      'X-Plex-Token': f.token,
    };
    for (const [k, v] of Object.entries(identity)) q.set(k, v);
    return q.toString();
  }

  const withToken = (f, url) => `${url}${url.includes('?') ? '&' : '?'}X-Plex-Token=${encodeURIComponent(f.token)}`;

  s.decision = async (f, o) => {
    const resp = await fetch(`${f.baseUrl}/video/:/transcode/universal/decision?${facadeQuery(f, o)}`, { headers: { Accept: 'application/json' } });
    const body = await jsonOf(resp);
    if (resp.status !== 200) throw new Error(`decision ${resp.status}: ${JSON.stringify(body).slice(0, 300)}`);
    return body.MediaContainer;
  };

  // Decision, then the URL the player gets: start.* for a transcode, the part for direct play.
  s.facadeUrl = async (f, o) => {
    const mc = await s.decision(f, o);
    if (o.directPlay) {
      if (Number(mc.directPlayDecisionCode) !== 1000) throw new Error(`no direct play: ${mc.directPlayDecisionText}`);
      return withToken(f, `${f.baseUrl}${mc.Metadata[0].Media[0].Part[0].key}`);
    }
    const file = o.protocol === 'dash' ? 'start.mpd' : 'start.m3u8';
    return `${f.baseUrl}/video/:/transcode/universal/${file}?${facadeQuery(f, o)}`;
  };

  s.facadeStop = async (f, session) => {
    const q = new URLSearchParams({ session, 'X-Plex-Client-Identifier': s.clientId, 'X-Plex-Token': f.token });
    return (await fetch(`${f.baseUrl}/video/:/transcode/universal/stop?${q}`, { headers: { Accept: 'application/json' } })).status;
  };

  // Flixor's audio/subtitle choice: PUT on the part, then a new session.
  s.selectStreams = async (f, streams) => {
    const q = new URLSearchParams({ ...streams, allParts: '1', 'X-Plex-Token': f.token });
    return (await fetch(`${f.baseUrl}/library/parts/${PART_ID}?${q}`, { method: 'PUT', headers: { Accept: 'application/json' } })).status;
  };

  s.sidecarUrl = (f) => withToken(f, `${f.baseUrl}/library/streams/403`);

  s.detach = () => {
    const c = s.cur;
    if (c && c.hls) c.hls.destroy();
    if (c && c.dash) c.dash.destroy();
    video.removeAttribute('src');
    video.load();
    const fresh = video.cloneNode(false);
    video.replaceWith(fresh);
    video = fresh;
    watchCues(video);
    s.cur = null;
  };

  // Hands `url` to the player Flixor would use for it. `t0` is when the playback was asked for.
  s.attach = (url, o = {}) => {
    s.detach();
    url = new URL(url, location.href).href;
    const kind = url.includes('.mpd') ? 'dash' : url.includes('.m3u8') ? 'hls' : 'native';
    const c = { url, kind, t0: o.t0 ?? performance.now(), firstFrameMs: null, errors: [], activeCues: 0, cueText: null };
    s.cur = c;
    const startAt = o.startAt || 0;
    if (kind === 'hls') {
      const hls = new Hls({
        ...hlsConfig,
        startPosition: startAt > 0 ? startAt : -1,
        // The rendition is AUTOSELECT=YES, DEFAULT=NO: a player that wants it says so.
        ...(o.hlsSubtitles ? { subtitlePreference: { lang: 'en' } } : {}),
        // Straight from Plex (the baseline), every request carries the token, as Plex Web's do.
        ...(o.plexToken ? {
          xhrSetup: (xhr) => { xhr.withCredentials = true; xhr.setRequestHeader('X-Plex-Token', o.plexToken); },
        } : {}),
      });
      hls.on(Hls.Events.ERROR, (_, d) => {
        const what = `hls.js ${d.type}/${d.details}${d.response ? ` (${d.response.code})` : ''}`;
        if (!d.fatal) { s.warnings.push(what); return; }
        c.errors.push(what);
        // Flixor's recovery: restart loading on network errors, recover on media errors.
        if (d.type === Hls.ErrorTypes.NETWORK_ERROR && c.errors.length < 3) hls.startLoad();
        else if (d.type === Hls.ErrorTypes.MEDIA_ERROR && c.errors.length < 3) hls.recoverMediaError();
      });
      hls.loadSource(url);
      hls.attachMedia(video);
      c.hls = hls;
    } else if (kind === 'dash') {
      const player = dashjs.MediaPlayer().create();
      player.updateSettings(dashSettings);
      if (o.plexToken) {
        player.addRequestInterceptor((req) => {
          req.headers = { ...(req.headers || {}), 'X-Plex-Token': o.plexToken };
          return Promise.resolve(req);
        });
      }
      player.on(dashjs.MediaPlayer.events.ERROR, (e) => c.errors.push(`dash.js ${e.error && (e.error.code + ' ' + e.error.message)}`));
      player.initialize(video, url, true, startAt > 0 ? startAt : NaN);
      c.dash = player;
    } else {
      video.src = url;
      if (startAt > 0) video.addEventListener('loadedmetadata', () => { video.currentTime = startAt; }, { once: true });
    }
    if (o.track) {
      const t = document.createElement('track');
      Object.assign(t, { kind: 'subtitles', srclang: 'en', label: 'English (sidecar)', src: o.track, default: true });
      video.append(t);
      t.track.mode = 'showing';
    }
    video.requestVideoFrameCallback(() => {
      if (s.cur === c && c.firstFrameMs === null) c.firstFrameMs = performance.now() - c.t0;
    });
    video.play().catch((e) => c.errors.push(`play(): ${e.message}`));
    return { kind };
  };

  s.state = () => ({
    currentTime: video.currentTime,
    paused: video.paused,
    readyState: video.readyState,
    videoHeight: video.videoHeight,
    duration: video.duration,
    firstFrameMs: s.cur && s.cur.firstFrameMs,
    errors: s.cur ? s.cur.errors : [],
    activeCues: s.cur ? s.cur.activeCues : 0,
    cueText: s.cur && s.cur.cueText,
    cues: [...video.textTracks].map((t) => ({ label: t.label, mode: t.mode, cues: t.cues ? t.cues.length : 0 })),
  });

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  // Resolves once currentTime passes `t` and a first frame was shown; throws with the state.
  s.waitTime = async (t, timeoutMs = 20000) => {
    const until = performance.now() + timeoutMs;
    while (performance.now() < until) {
      if (video.currentTime > t && s.cur && s.cur.firstFrameMs !== null) return s.state();
      await sleep(40);
    }
    throw new Error(`currentTime did not pass ${t} s in ${timeoutMs} ms: ${JSON.stringify(s.state())}`);
  };

  s.waitCues = async (timeoutMs = 15000) => {
    const until = performance.now() + timeoutMs;
    while (performance.now() < until) {
      if (s.cur && s.cur.activeCues > 0) return s.state();
      await sleep(40);
    }
    throw new Error(`no cue became active in ${timeoutMs} ms: ${JSON.stringify(s.state())}`);
  };

  s.seek = async (t) => {
    const seeked = new Promise((resolve) => video.addEventListener('seeked', resolve, { once: true }));
    video.currentTime = t;
    await Promise.race([seeked, sleep(10000).then(() => { throw new Error('no seeked event in 10 s'); })]);
    return s.state();
  };

  s.fetchStatus = async (url) => {
    const resp = await fetch(url, { cache: 'no-store' });
    const body = await jsonOf(resp);
    return { status: resp.status, code: body.error ? body.error.code : null };
  };

  return s;
})();
