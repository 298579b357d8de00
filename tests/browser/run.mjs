#!/usr/bin/env node
// The browser suite's runner: real hls.js and dash.js in Debian's Chromium (playwright-core,
// no browser download), against a running plexgate. tests/browser.rs starts plexgate and the
// demo Plex (and nginx), runs this, and asserts on the JSON it writes; it also runs the leak
// canary over every URL, header and body collected here.
//
//   node tests/browser/run.mjs --suite full   --origin URL --plex-origin URL --out FILE [--screenshot PNG]
//   node tests/browser/run.mjs --suite direct --origin URL --plex-origin URL --out FILE [--screenshot PNG]
//   node tests/browser/run.mjs --suite owner|owner-other --origin URL --plex-origin URL --out FILE [--screenshot PNG]
//   node tests/browser/run.mjs --suite webroot --origin URL --plex-origin URL --out FILE
//   node tests/browser/run.mjs --suite ttff   --target NAME=ORIGIN[,PLEX_TOKEN] ... [--reps N] [--demo-page] --out FILE
//
// --origin is plexgate as the browser reaches it, base path included (http://127.0.0.1:3001,
// https://127.0.0.1:8443/plexgate). A ttff target with a PLEX_TOKEN is the baseline: the page is
// served on the demo Plex's own origin and plays straight from Plex with the token.
// Exit code 0 means the suite ran (its checks are in the JSON); 1 means it could not run.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runFull, runDirect, runTtff, runWebRoot } from './suites.mjs';
import { runOwner, runOwnerOther } from './owner.mjs';
import { Recorder } from './recorder.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

function die(msg) {
  process.stderr.write(`run.mjs: ${msg}\n`);
  process.exit(1);
}

const { values: args } = parseArgs({
  options: {
    suite: { type: 'string', default: 'full' },
    origin: { type: 'string' },
    'plex-origin': { type: 'string' },
    target: { type: 'string', multiple: true, default: [] },
    reps: { type: 'string', default: '3' },
    out: { type: 'string' },
    screenshot: { type: 'string' },
    'demo-page': { type: 'boolean', default: false },
    chromium: { type: 'string', default: process.env.CHROMIUM || '/usr/bin/chromium' },
  },
});

let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (e) {
  die(`playwright-core is not installed: run \`npm ci\` in ${here} (${e.message})`);
}
if (!fs.existsSync(args.chromium)) die(`Chromium not found at ${args.chromium}: apt-get install chromium`);
for (const f of ['hls.js/dist/hls.min.js', 'dashjs/dist/modern/umd/dash.mediaplayer.min.js']) {
  if (!fs.existsSync(path.join(here, 'node_modules', f))) die(`${f} missing: run \`npm ci\` in ${here}`);
}
if (!args.out) die('--out FILE is required');
if (args.suite !== 'ttff' && (!args.origin || !args['plex-origin'])) die('--origin and --plex-origin are required');

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'plexgate-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: args.chromium,
  headless: true,
  ignoreHTTPSErrors: true, // the reverse-proxy runs use a certificate made at test time
  viewport: { width: 1200, height: 900 },
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--autoplay-policy=no-user-gesture-required',
  ],
});

const rec = new Recorder(context, args['plex-origin']);
const result = { suite: args.suite, browser: context.browser()?.version() ?? null, checks: [], playbacks: {} };
try {
  const opts = { here, origin: args.origin, plexOrigin: args['plex-origin'], screenshot: args.screenshot };
  if (args.suite === 'full') await runFull(context, rec, result, opts);
  else if (args.suite === 'direct') await runDirect(context, rec, result, opts);
  else if (args.suite === 'owner') await runOwner(context, rec, result, opts);
  else if (args.suite === 'owner-other') await runOwnerOther(context, rec, result, opts);
  else if (args.suite === 'webroot') await runWebRoot(context, rec, result, opts);
  else if (args.suite === 'ttff') {
    const targets = args.target.map((t) => {
      const [name, rest] = t.split(/=(.*)/s);
      const [origin, token] = rest.split(',');
      return { name, origin, token };
    });
    await runTtff(context, rec, result, { here, targets, reps: Number(args.reps), demoPage: args['demo-page'] });
  } else die(`unknown suite ${args.suite}`);
} catch (e) {
  result.fatal = String(e && e.stack ? e.stack : e);
} finally {
  await rec.settle();
  Object.assign(result, rec.report());
  await context.close().catch(() => {});
  fs.rmSync(userDataDir, { recursive: true, force: true });
  fs.writeFileSync(args.out, JSON.stringify(result, null, 1));
}
