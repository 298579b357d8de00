// Everything Chromium saw, from its own network and console events (not from the page): every
// request and response with all headers, request bodies, and response bodies of text types. Each
// request is tagged with the label of the playback that was running, for per-playback counts.
const TEXT_TYPES = /json|xml|mpegurl|text\/|vtt|dash|javascript|html|css|svg/i;

export class Recorder {
  constructor(context, plexOrigin) {
    this.plexPort = plexOrigin ? new URL(plexOrigin).port : null;
    this.label = 'setup';
    this.net = [];
    this.console = [];
    this.expected = new Set(); // URLs deliberately fetched to get a 403/404
    this.pending = [];
    this.byRequest = new Map();
    context.on('request', (req) => this.onRequest(req));
    context.on('response', (resp) => this.track(this.onResponse(resp)));
    context.on('requestfinished', (req) => this.track(this.onFinished(req)));
    context.on('requestfailed', (req) => {
      const e = this.byRequest.get(req);
      if (e) e.failed = req.failure()?.errorText ?? 'failed';
    });
    context.on('page', (page) => this.watch(page));
    for (const page of context.pages()) this.watch(page);
  }

  // `url` is fetched on purpose to get an error status: its console line is not a failure.
  expect(url) {
    this.expected.add(url);
    for (const c of this.console) if (c.url === url) c.expected = true;
  }

  track(promise) {
    this.pending.push(promise.catch(() => {}));
  }

  watch(page) {
    page.on('console', (m) => {
      if (m.type() !== 'error' && m.type() !== 'warning') return;
      const url = m.location()?.url ?? '';
      this.console.push({ type: m.type(), text: m.text(), url, label: this.label, expected: this.expected.has(url) });
    });
    page.on('pageerror', (e) => this.console.push({ type: 'pageerror', text: String(e), url: '', label: this.label, expected: false }));
  }

  onRequest(req) {
    const e = {
      label: this.label,
      method: req.method(),
      url: req.url(),
      resourceType: req.resourceType(),
      requestHeaders: req.headers(),
      postData: req.postData(),
      status: null,
      responseHeaders: null,
      body: null,
      bytes: 0,
      failed: null,
    };
    this.byRequest.set(req, e);
    this.net.push(e);
    this.track(req.allHeaders().then((h) => { e.requestHeaders = h; }));
  }

  async onResponse(resp) {
    const e = this.byRequest.get(resp.request());
    if (!e) return;
    e.status = resp.status();
    e.responseHeaders = await resp.allHeaders();
    const type = e.responseHeaders['content-type'] || '';
    if (TEXT_TYPES.test(type)) e.body = (await resp.body()).toString('utf8');
  }

  async onFinished(req) {
    const e = this.byRequest.get(req);
    if (!e) return;
    const sizes = await req.sizes();
    e.bytes = sizes.responseBodySize;
  }

  async settle() {
    // Responses keep arriving while we wait; loop until nothing new is pending.
    for (let seen = -1; seen !== this.pending.length;) {
      seen = this.pending.length;
      await Promise.all(this.pending.slice());
    }
  }

  // Requests and bytes per label, since `from` (an index into net).
  stats(label) {
    const mine = this.net.filter((e) => e.label === label);
    return { requests: mine.length, bytes: mine.reduce((a, e) => a + (e.bytes || 0), 0) };
  }

  // The last media request (segment or part) of `label` that succeeded.
  lastMedia(label) {
    return [...this.net].reverse().find((e) => e.label === label && e.status >= 200 && e.status < 300
      && /\/(\d+\.(ts|m4s)|header|file\.mp4)(\?|$)/.test(e.url));
  }

  report() {
    return {
      network: this.net.map(({ label, method, url, requestHeaders, responseHeaders, postData, status, body, bytes, failed }) => (
        { label, method, url, requestHeaders, responseHeaders, postData, status, body, bytes, failed })),
      console: this.console,
      plexPortRequests: this.net.filter((e) => this.plexPort && new URL(e.url).port === this.plexPort)
        .map((e) => ({ label: e.label, url: e.url })),
    };
  }
}
