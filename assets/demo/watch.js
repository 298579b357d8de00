// plexgate demo page, part 1: watches every request the page makes (fetch, XMLHttpRequest,
// resource timing, CSP refusals), judges where a Plex token was seen, and renders the request
// table and the verdict. Loaded before demo.js, which drives the demo and calls
// `window.plexgateWatch`. A classic script, no build step.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  let started = false; // the demo signed in and listed: the verdict may speak
  // ---- what the page saw ----------------------------------------------------------------
  const records = []; // {method, url, status, bytes, by}
  const evidence = []; // {value, where}: every value presented as a Plex token
  const issued = new Set(); // tickets plexgate handed this page
  const TEXTUAL = /json|xml|mpegurl|text|vtt|dash/i;

  const abs = (u) => new URL(u, location.href).href;
  // Short form of a URL for the verdict: its origin only when it is not ours, and no query.
  const pathOf = (u) => {
    const x = new URL(u);
    return `${x.origin === location.origin ? '' : x.origin}${x.pathname}${x.search ? '?…' : ''}`;
  };
  const decode = (s) => { try { return decodeURIComponent(s); } catch { return s; } };

  function harvestTickets(url, json) {
    // Only plexgate's own API hands out tickets: the server list and the stream URLs.
    if (new URL(url).origin !== location.origin || !/\/api\/(auth\/servers|plex\/stream\/)/.test(url)) return;
    const walk = (v, key) => {
      if (Array.isArray(v)) v.forEach((x) => walk(x));
      else if (v && typeof v === 'object') Object.entries(v).forEach(([k, x]) => walk(x, k));
      else if (typeof v === 'string') {
        if (key === 'token') issued.add(v);
        for (const m of v.matchAll(/\/api\/plex\/proxy\/([A-Za-z0-9_-]{20,})/g)) issued.add(m[1]);
      }
    };
    walk(json);
  }

  function scanText(where, text) {
    if (!text) return;
    const forms = new Set([text, decode(text), decode(decode(text))]);
    for (const t of forms) {
      for (const m of t.matchAll(/X-Plex-Token["']?\s*[=:]\s*["']?([^&\s"'<>#,;]+)/gi)) evidence.push({ value: m[1], where });
      for (const m of t.matchAll(/"(?:token|accessToken|authToken|authenticationToken)"\s*:\s*"([^"]*)"/g)) evidence.push({ value: m[1], where });
    }
  }

  function scanHeaders(where, headers) {
    if (!headers) return;
    const list = headers instanceof Headers ? [...headers] : Array.isArray(headers) ? headers : Object.entries(headers);
    scanText(where, list.map(([k, v]) => `${k}: ${v}`).join('\n'));
  }

  function record(r) {
    r.url = abs(r.url);
    records.push(r);
    scanText(`the URL of ${r.method} ${pathOf(r.url)}`, r.url);
    schedule();
    return r;
  }

  function inspectBody(r, contentType, text) {
    if (!TEXTUAL.test(contentType || '')) return;
    const where = `the body of ${r.method} ${pathOf(r.url)}`;
    if (/json/.test(contentType)) { try { harvestTickets(r.url, JSON.parse(text)); } catch { /* not JSON after all */ } }
    scanText(where, text);
  }

  // fetch: our own API calls.
  const realFetch = window.fetch.bind(window);
  window.fetch = async (input, init = {}) => {
    const r = record({ method: (init.method || input.method || 'GET').toUpperCase(), url: input.url || String(input), status: '…', bytes: 0, by: 'fetch' });
    scanHeaders(`a request header of ${r.method} ${pathOf(r.url)}`, init.headers);
    try {
      const resp = await realFetch(input, init);
      r.status = resp.status;
      scanHeaders(`a response header of ${r.method} ${pathOf(r.url)}`, resp.headers);
      const ct = resp.headers.get('content-type') || '';
      if (TEXTUAL.test(ct)) inspectBody(r, ct, await resp.clone().text());
      schedule();
      return resp;
    } catch (e) {
      r.status = 'failed';
      schedule();
      throw e;
    }
  };

  // XMLHttpRequest: what hls.js and dash.js use for manifests and segments.
  const X = XMLHttpRequest.prototype;
  const xOpen = X.open, xSend = X.send, xHeader = X.setRequestHeader;
  X.open = function (method, url, ...rest) {
    this.__pg = { method: String(method).toUpperCase(), url: String(url), status: '…', bytes: 0, by: 'xhr' };
    return xOpen.call(this, method, url, ...rest);
  };
  X.setRequestHeader = function (name, value) {
    if (this.__pg) scanText(`a request header of ${this.__pg.method} ${pathOf(abs(this.__pg.url))}`, `${name}: ${value}`);
    return xHeader.call(this, name, value);
  };
  X.send = function (body) {
    const r = this.__pg && record(this.__pg);
    if (r) {
      this.addEventListener('loadend', () => {
        r.status = this.status || 'failed';
        scanText(`a response header of ${r.method} ${pathOf(r.url)}`, this.getAllResponseHeaders());
        const ct = this.getResponseHeader('content-type') || '';
        let text = null;
        if (this.responseType === '' || this.responseType === 'text') text = this.responseText;
        else if (this.responseType === 'json') text = JSON.stringify(this.response);
        else if (this.response instanceof ArrayBuffer && TEXTUAL.test(ct)) text = new TextDecoder().decode(this.response);
        if (text !== null) inspectBody(r, ct, text);
        schedule();
      });
    }
    return xSend.call(this, body);
  };

  // Everything else (images, scripts, media, tracks), and sizes for all of them.
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const size = e.encodedBodySize || e.transferSize || 0;
      const mine = ['fetch', 'xmlhttprequest'].includes(e.initiatorType)
        && [...records].reverse().find((r) => r.url === e.name && !r.timed);
      if (mine) { mine.timed = true; mine.bytes = size; continue; }
      record({ method: 'GET', url: e.name, status: e.responseStatus || 'ok', bytes: size, by: e.initiatorType, timed: true });
    }
    schedule();
  }).observe({ type: 'resource', buffered: true });

  // Requests the browser refused because of the page's Content-Security-Policy.
  document.addEventListener('securitypolicyviolation', (e) => {
    record({ method: '(refused)', url: e.blockedURI || 'about:blank', status: `CSP ${e.effectiveDirective}`, bytes: 0, by: 'browser' });
  });

  // ---- verdict ------------------------------------------------------------------------------
  function problems() {
    const out = [];
    for (const r of records) {
      const u = new URL(r.url);
      if (u.protocol === 'blob:' || u.protocol === 'data:' || u.href === 'about:blank') continue;
      if (u.origin !== location.origin) out.push(`a request to ${u.origin} (not plexgate${r.method === '(refused)' ? '; refused by the browser' : ''})`);
    }
    for (const e of evidence) {
      if (!issued.has(e.value)) out.push(`${e.where} (a token value that is not a plexgate ticket)`);
    }
    return [...new Set(out)];
  }

  function verdict() {
    const p = problems();
    return p.length === 0 ? 'Plex token seen: nowhere' : `Plex token seen: ${p.join('; ')}`;
  }

  // ---- rendering ----------------------------------------------------------------------------
  let pending = false;
  function schedule() {
    if (pending) return;
    pending = true;
    setTimeout(render, 50);
  }

  const fmtBytes = (n) => (n >= 1048576 ? `${(n / 1048576).toFixed(2)} MB` : n >= 1024 ? `${(n / 1024).toFixed(1)} kB` : `${n} B`);

  function urlCell(url) {
    const td = document.createElement('td');
    td.className = 'url';
    // A value presented as a token that is not one of our tickets is masked, never displayed.
    const s = (url.startsWith(location.origin) ? url.slice(location.origin.length) : url)
      .replace(/(X-Plex-Token=)([^&#]+)/gi, (m, k, v) => (issued.has(decode(v)) ? m : `${k}‹not a ticket›`));
    const parts = s.split(/([A-Za-z0-9_-]{40,})/);
    for (const part of parts) {
      if (issued.has(part)) {
        const span = document.createElement('span');
        span.className = 'ticket';
        span.title = 'a plexgate ticket';
        span.textContent = `‹ticket ${part.slice(0, 6)}…›`;
        td.append(span);
      } else if (part.length >= 40 && /^[A-Za-z0-9_-]+$/.test(part)) {
        td.append(`${part.slice(0, 6)}…`);
      } else {
        td.append(part);
      }
    }
    return td;
  }

  function render() {
    pending = false;
    const p = problems();
    const v = $('verdict');
    // Nothing to judge before the page has signed in and listed: say so, never a early green.
    const judged = started || p.length > 0;
    v.textContent = judged ? verdict() : 'Checking: the page is still starting.';
    v.className = !judged ? 'checking' : p.length ? 'bad' : 'good';
    const tokens = evidence.length;
    $('verdict-detail').textContent = `${records.length} requests checked, all ${p.length ? 'but the ones named above ' : ''}to ${location.origin}; `
      + `${tokens} token value${tokens === 1 ? '' : 's'} seen in URLs, headers and bodies, checked against ${issued.size} ticket${issued.size === 1 ? '' : 's'} plexgate issued.`;
    $('count').textContent = records.length;
    $('bytes').textContent = fmtBytes(records.reduce((a, r) => a + (r.bytes || 0), 0));
    const tbody = $('log');
    tbody.replaceChildren(...records.map((r, i) => {
      const tr = document.createElement('tr');
      if (new URL(r.url).origin !== location.origin && !r.url.startsWith('blob:')) tr.className = 'bad';
      const cell = (text, cls) => { const td = document.createElement('td'); td.textContent = text; if (cls) td.className = cls; return td; };
      tr.append(cell(i + 1, 'num'), cell(r.method), urlCell(r.url), cell(r.status), cell(fmtBytes(r.bytes || 0), 'num'), cell(r.by));
      return tr;
    }));
  }

  window.plexgateWatch = {
    abs,
    render,
    verdict,
    problems,
    records: () => records,
    started: () => { started = true; schedule(); },
  };
})();
