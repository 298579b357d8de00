// The demo page beyond "it plays": `/demo/` (trailing slash) works, the verdict starts as
// "checking", the TV show's episodes are listed, every title has its own poster, the quality,
// audio and subtitle pickers reach /api/plex/stream (and the quality the player), and an error is a sentence
// with a Retry button. Run from runFull after the demo page's own checks.

export async function demoPolish(context, rec, result, o, check) {
  const origin = o.origin.replace(/\/$/, '');
  rec.label = 'demo page polish';
  const html = await (await context.request.get(`${origin}/demo`)).text();
  check('demo page: the verdict starts as "checking", never an early green',
    /<p id="verdict" class="checking">/.test(html) && !/class="good"/.test(html), html.match(/<p id="verdict"[^>]*>[^<]*/)?.[0]);

  const page = await context.newPage();
  await page.goto(`${origin}/demo/`);
  const items = await page.evaluate(() => window.plexgateDemo.ready);
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  check('demo page: /demo/ lands on /demo, styled, signed in and listed',
    new URL(page.url()).pathname.endsWith('/demo') && bg === 'rgb(17, 19, 24)' && items >= 7, `${page.url()} ${bg} ${items} items`);

  const listed = await page.evaluate(() => [...document.querySelectorAll('#items .item')].map((b) => ({ type: b.dataset.type, text: b.textContent })));
  const episodes = listed.filter((i) => i.type === 'episode');
  const showHeading = await page.evaluate(() => [...document.querySelectorAll('#items h3')].map((h) => h.textContent).join(' | '));
  check('demo page: the TV show is listed with its episodes',
    episodes.length === 3 && /Test Pattern Chronicles \(TV show, 3 episodes\)/.test(showHeading), `${showHeading}: ${episodes.map((e) => e.text).join(', ')}`);

  await page.waitForFunction(() => [...document.querySelectorAll('#items img')].every((i) => i.complete), null, { timeout: 20000 });
  const posters = await page.evaluate(() => Promise.all([...document.querySelectorAll('#items img')].map(async (img) => {
    const c = document.createElement('canvas');
    c.width = 8; c.height = 8;
    c.getContext('2d').drawImage(img, 0, 0, 8, 8);
    return { w: img.naturalWidth, px: [...c.getContext('2d').getImageData(0, 0, 8, 8).data].join(',') };
  })));
  const distinct = new Set(posters.map((p) => p.px)).size;
  check('demo page: every title has its own poster (all loaded, all different)',
    posters.every((p) => p.w > 0) && distinct === posters.length, `${distinct} distinct of ${posters.length}`);

  // Pickers: the low quality, the English audio and the WebVTT subtitles of the test card.
  rec.label = 'demo page pickers';
  await page.evaluate(() => window.plexgateDemo.play('101', 'hls', { quality: '200', audio: '402', subtitle: '403' }));
  await page.waitForFunction(() => window.plexgateDemo.video.currentTime > 2, null, { timeout: 20000 });
  const recs = await page.evaluate(() => window.plexgateDemo.records());
  const asked = recs.find((r) => /\/api\/plex\/stream\/101\?/.test(r.url))?.url || '';
  const q = new URL(asked || 'http://x/').searchParams;
  check('demo page: the pickers are sent to /api/plex/stream (quality, audioStreamID, subtitleStreamID)',
    q.get('quality') === '200' && q.get('audioStreamID') === '402' && q.get('subtitleStreamID') === '403', asked.replace(/^.*\/api/, '/api'));
  // plexgate asks Plex to burn the chosen subtitles in, so the player sees one video rendition.
  const height = await page.evaluate(() => window.plexgateDemo.video.videoHeight);
  check('demo page: with those choices the player plays the low rendition', height === 180, `videoHeight ${height}`);

  // A picker change while playing restarts the same title where it was, in a new session.
  const before = await page.evaluate(() => window.plexgateDemo.current());
  const at = await page.evaluate(() => window.plexgateDemo.video.currentTime);
  await page.selectOption('#quality', 'original');
  await page.waitForFunction((id) => window.plexgateDemo.current()?.sessionId !== id && window.plexgateDemo.video.videoHeight === 360,
    before.sessionId, { timeout: 20000 });
  const again = await page.evaluate(() => window.plexgateDemo.records().filter((r) => /\/api\/plex\/stream\/101\?/.test(r.url)).pop().url);
  const offset = Number(new URL(again).searchParams.get('offset'));
  check('demo page: changing quality while playing restarts at the same position, full quality',
    offset > 1 && Math.abs(offset - at) < 3, `offset ${offset} (was at ${at.toFixed(1)})`);
  for (const r of await page.evaluate(() => window.plexgateDemo.records())) {
    if (r.status === 403 && r.by === 'fetch') rec.expect(r.url);
  }
  await page.evaluate(() => window.plexgateDemo.stop());

  // The long title (60 s: the media played six times) plays, seeks to 45 s and plays on.
  for (const protocol of ['hls', 'dash']) {
    rec.label = `demo page long ${protocol}`;
    await page.evaluate((p) => window.plexgateDemo.play('104', p, { quality: 'original', audio: '', subtitle: '0' }), protocol);
    await page.waitForFunction(() => window.plexgateDemo.video.currentTime > 1, null, { timeout: 20000 });
    const duration = await page.evaluate(() => window.plexgateDemo.video.duration);
    await page.evaluate(() => { window.plexgateDemo.video.currentTime = 45; });
    const ok = await page.waitForFunction(() => window.plexgateDemo.video.currentTime > 46.5, null, { timeout: 20000 })
      .then(() => true, () => false);
    const t = await page.evaluate(() => window.plexgateDemo.video.currentTime);
    check(`demo page: the long title (${protocol}) is 60 s and plays on after a seek to 45 s`,
      Math.abs(duration - 60) < 1 && ok, `duration ${duration}, t=${t.toFixed(2)}`);
    for (const r of await page.evaluate(() => window.plexgateDemo.records())) {
      if (r.status === 403 && r.by === 'fetch') rec.expect(r.url);
    }
  }
  await page.evaluate(() => window.plexgateDemo.stop());

  // An error reads as a sentence and offers a Retry.
  rec.label = 'demo page error';
  await page.evaluate(() => window.plexgateDemo.play('424242', 'hls').catch(() => null));
  for (const r of await page.evaluate(() => window.plexgateDemo.records())) {
    if (typeof r.status === 'number' && r.status >= 400) rec.expect(r.url);
  }
  const problem = await page.evaluate(() => window.plexgateDemo.problem());
  check('demo page: an error is a sentence with a Retry button',
    /^Could not play “424242”: [A-Z][^:]*\.$/.test(problem || '') && await page.locator('#retry').isVisible(), problem);
  if (o.screenshot) await page.screenshot({ path: o.screenshot.replace(/\.png$/, '-polish.png'), fullPage: true });
  await page.close();
}
