// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cdp.js: drives Debian's headless Chromium through the Chrome DevTools
 * Protocol (CDP) for the browser integration tests. A C test serves a page
 * on 127.0.0.1 and runs
 *
 *   node tests/browser/cdp.js [--chromium PATH] [--timeout-ms N] STEPS_JSON
 *
 * to open it on an emulated old phone, read it, type, tap buttons and take
 * screenshots. STEPS_JSON is a JSON array of steps ("-" reads it from stdin);
 * see README.md for the verbs. One JSON object is printed on stdout:
 * {"ok":true,"results":[...],"console":[...],"failed":[...]} or, at the first
 * failing step, {"ok":false,"step":i,"error":"...",...}.
 *
 * Exit status: 0 all steps passed; 1 a step failed or timed out; 2 Chromium
 * could not be started (not installed, crashed at once, never answered), so
 * a test can skip rather than fail; 3 bad command line or steps.
 *
 * No npm packages (no puppeteer, no ws): the tests must run offline on a
 * fresh Debian 12 machine with only Debian's chromium package and the
 * machine's Node. CDP over --remote-debugging-pipe needs no WebSocket:
 * Chromium reads JSON messages on its fd 3 and writes them on its fd 4, each
 * one ended by a NUL byte.
 */
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const EXIT_STEP = 1, EXIT_LAUNCH = 2, EXIT_USAGE = 3;
const STEP_TIMEOUT_MS = 10000;
const VERBS = ['viewport', 'goto', 'eval', 'click', 'type', 'screenshot', 'text'];
const USAGE = 'usage: node cdp.js [--chromium PATH] [--timeout-ms N] STEPS_JSON|-\n';
const T0 = Date.now();
// CDP_DEBUG=1 logs every message on stderr, with milliseconds since start.
const debug = process.env.CDP_DEBUG ? (dir, m) => process.stderr.write(
  `${Date.now() - T0} ${dir} ${m.method || ''}${m.id ? ` #${m.id}` : ''}${m.error ? ` ${m.error.message}` : ''}\n`) : () => {};

// Chromium as root, with no display and no network beyond this machine.
// The --disable-* flags stop most of its calls to Google (updates, sync,
// field trials); even so Chromium 156 still looks up accounts.google.com,
// clients2.google.com, update.googleapis.com and content-autofill.googleapis.com,
// so --host-resolver-rules fails every name lookup but localhost's, at once
// and without asking the network.
function chromiumArgs(profileDir) {
  return ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--no-default-browser-check', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-default-apps',
    '--disable-extensions', '--mute-audio', '--hide-scrollbars',
    '--disable-breakpad', '--password-store=basic',
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost',
    `--user-data-dir=${profileDir}`, '--remote-debugging-pipe', 'about:blank'];
}

/* ---- command line ---- */

function parseArgs(argv) {
  const opt = { chromium: process.env.CHROMIUM || '/usr/bin/chromium', timeoutMs: 30000 };
  let stepsText = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') { process.stdout.write(USAGE); process.exit(0); }
    else if (a === '--chromium' && i + 1 < argv.length) opt.chromium = argv[++i];
    else if (a === '--timeout-ms' && i + 1 < argv.length) opt.timeoutMs = Number(argv[++i]);
    else if (stepsText === null && (a === '-' || !a.startsWith('--'))) stepsText = a;
    else throw new Error(`unexpected argument ${a}`);
  }
  if (!(opt.timeoutMs > 0)) throw new Error('--timeout-ms wants a positive number');
  if (stepsText === null) throw new Error('no STEPS_JSON given');
  if (stepsText === '-') stepsText = fs.readFileSync(0, 'utf8');
  let steps;
  try { steps = JSON.parse(stepsText); } catch (e) { throw new Error(`STEPS_JSON: ${e.message}`); }
  if (!Array.isArray(steps)) throw new Error('STEPS_JSON must be a JSON array');
  steps.forEach((s, i) => {
    const verbs = s && typeof s === 'object' ? Object.keys(s).filter((k) => VERBS.includes(k)) : [];
    if (verbs.length !== 1) throw new Error(`step ${i}: wants exactly one of ${VERBS.join(', ')}`);
  });
  opt.steps = steps;
  return opt;
}

const verbOf = (step) => Object.keys(step).find((k) => VERBS.includes(k));

/* ---- the CDP connection: NUL-framed JSON over two pipes ---- */

class Cdp {
  constructor(input, output) {
    this.input = input;          // Chromium's fd 3: we write commands here
    this.nextId = 1;
    this.pending = new Map();    // id -> {resolve, reject, method}
    this.listeners = new Set();  // called with every event message
    this.partial = [];
    output.on('data', (chunk) => this.onData(chunk));
    input.on('error', () => {}); // EPIPE once Chromium is gone: seen via 'exit'
    output.on('error', () => {});
  }

  onData(chunk) {
    let start = 0, nul;
    while ((nul = chunk.indexOf(0, start)) !== -1) {
      this.partial.push(chunk.subarray(start, nul));
      const msg = JSON.parse(Buffer.concat(this.partial).toString('utf8'));
      this.partial = [];
      start = nul + 1;
      debug('<', msg);
      this.dispatch(msg);
    }
    if (start < chunk.length) this.partial.push(chunk.subarray(start));
  }

  dispatch(msg) {
    if (msg.id === undefined) {
      for (const fn of [...this.listeners]) fn(msg);
      return;
    }
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (msg.error) p.reject(new Error(`${p.method}: ${msg.error.message}${msg.error.data ? ` (${msg.error.data})` : ''}`));
    else p.resolve(msg.result || {});
  }

  send(method, params = {}, sessionId = undefined) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.dead) return reject(this.dead);
      this.pending.set(id, { resolve, reject, method });
      debug('>', { id, method });
      this.input.write(JSON.stringify({ id, method, params, sessionId }) + '\0');
    });
  }

  // Resolves with the first truthy value pred returns for an event; rejects
  // if pred throws. Listeners left over by a failed step do no harm: the
  // run ends at the first failure.
  until(pred) {
    return new Promise((resolve, reject) => {
      const fn = (msg) => {
        let v;
        try { v = pred(msg); } catch (e) { this.listeners.delete(fn); return reject(e); }
        if (v) { this.listeners.delete(fn); resolve(v); }
      };
      this.listeners.add(fn);
    });
  }

  fail(err) {
    this.dead = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}

// what: a string, or a function giving it when the time is up.
const withTimeout = (promise, ms, what) => Promise.race([promise, new Promise((_, reject) =>
  setTimeout(() => reject(new Error(`${typeof what === 'function' ? what() : what} timed out after ${ms} ms`)), ms).unref())]);

/* ---- the page: one tab, its events, and the steps ---- */

class Page {
  constructor(cdp, sessionId, frameId) {
    Object.assign(this, { cdp, sessionId, frameId });
    this.console = [];           // console API calls, exceptions, browser log entries
    this.failed = [];            // requests that failed (Network.loadingFailed)
    this.urls = new Map();       // requestId -> url
    this.nav = null;             // the navigation being waited for
    cdp.listeners.add((msg) => { if (msg.sessionId === sessionId) this.onEvent(msg.method, msg.params); });
  }

  send(method, params) { return this.cdp.send(method, params, this.sessionId); }

  onEvent(method, p) {
    const nav = this.nav;
    const mainDoc = p.type === 'Document' && p.frameId === this.frameId;
    switch (method) {
      case 'Network.requestWillBeSent':
        this.urls.set(p.requestId, p.request.url);
        if (nav && mainDoc) {
          if (p.redirectResponse) nav.redirects.push({ status: p.redirectResponse.status, url: p.redirectResponse.url });
          nav.requestId = p.requestId;
        }
        break;
      case 'Network.responseReceived':
        if (nav && mainDoc) nav.doc = p.response;
        break;
      case 'Network.responseReceivedExtraInfo': // the raw headers, Set-Cookie included
        if (nav && p.requestId === nav.requestId) nav.raw.push(p);
        break;
      case 'Network.loadingFailed':
        this.failed.push({ url: this.urls.get(p.requestId), type: p.type, error: p.errorText,
          ...(p.canceled ? { canceled: true } : {}), ...(p.blockedReason ? { blockedReason: p.blockedReason } : {}) });
        if (nav && p.requestId === nav.requestId && !nav.doc) nav.error = p.errorText;
        break;
      case 'Runtime.consoleAPICalled':
        this.console.push({ type: p.type, text: p.args.map(remoteText).join(' '),
          url: p.stackTrace?.callFrames[0]?.url || undefined });
        break;
      case 'Runtime.exceptionThrown':
        this.console.push({ type: 'exception', text: exceptionText(p.exceptionDetails),
          url: p.exceptionDetails.url || undefined });
        break;
      case 'Log.entryAdded': { // browser-side messages: 404s of subresources, CSP, ...
        const e = p.entry;
        // Headless Chromium asks for /favicon.ico by itself: not the page's fault.
        if (e.level !== 'verbose' && !/\/favicon\.ico$/.test(e.url || ''))
          this.console.push({ type: `${e.source}:${e.level}`, text: e.text, url: e.url });
        break;
      }
      case 'Page.javascriptDialogOpening': // alert()/confirm() would block the page
        this.console.push({ type: `dialog:${p.type}`, text: p.message, url: p.url });
        this.send('Page.handleJavaScriptDialog', { accept: true }).catch(() => {});
        break;
    }
  }

  // Call before starting a navigation: resolves once a new main document
  // has arrived and its load event fired, rejects if the document failed.
  expectNavigation() {
    const nav = this.nav = { redirects: [], doc: null, raw: [], error: null, requestId: null, waiting: true };
    const loaded = this.cdp.until((msg) => {
      if (nav.error) throw new Error(`navigation failed: ${nav.error}`);
      return msg.sessionId === this.sessionId && msg.method === 'Page.loadEventFired' && nav.doc;
    });
    const settled = loaded.finally(() => { nav.waiting = false; });
    settled.catch(() => {}); // may reject before anyone awaits it
    return settled;
  }

  navResult() {
    const { doc, raw, redirects } = this.nav;
    const headers = {};
    // Those of the final hop, which has the final status; several values of
    // one header come joined by "\n".
    const last = raw.filter((r) => r.statusCode === doc.status).pop();
    for (const [k, v] of Object.entries({ ...doc.headers, ...(last && last.headers) })) headers[k.toLowerCase()] = v;
    return { status: doc.status, url: doc.url, headers, redirects };
  }

  async evaluate(expression) {
    const r = await this.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true, userGesture: true });
    if (r.exceptionDetails) throw new Error(exceptionText(r.exceptionDetails));
    const v = r.result;
    return v.unserializableValue !== undefined ? v.unserializableValue : (v.value === undefined ? null : v.value);
  }

  // Scrolls the element into view and returns the centre of its box in
  // viewport CSS pixels, after checking nothing else covers that point.
  async locate(selector) {
    const where = await this.evaluate(`(${(sel) => {
      const el = document.querySelector(sel);
      if (!el) return { error: `no element matches ${sel}` };
      el.scrollIntoView({ block: 'center', inline: 'center', behavior: 'instant' });
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) return { error: `element ${sel} has an empty box` };
      const x = r.left + r.width / 2, y = r.top + r.height / 2;
      const hit = document.elementFromPoint(x, y);
      if (hit && !el.contains(hit)) {
        const name = hit.tagName.toLowerCase() + (hit.id ? `#${hit.id}` : '') + [...hit.classList].map((c) => `.${c}`).join('');
        return { error: `element ${sel} is covered at (${Math.round(x)},${Math.round(y)}) by ${name}` };
      }
      return { x, y };
    }})(${JSON.stringify(selector)})`);
    if (where.error) throw new Error(where.error);
    return where;
  }

  async run(step) {
    const verb = verbOf(step), arg = step[verb];
    switch (verb) {
      case 'viewport': {
        await this.send('Emulation.setDeviceMetricsOverride', { width: arg.width, height: arg.height,
          deviceScaleFactor: arg.deviceScaleFactor || 1, mobile: !!arg.mobile });
        // A phone has a touch screen: (pointer: coarse), navigator.maxTouchPoints.
        const touch = arg.touch !== undefined ? !!arg.touch : !!arg.mobile;
        await this.send('Emulation.setTouchEmulationEnabled', { enabled: touch, maxTouchPoints: touch ? 5 : undefined });
        const ua = step.userAgent || arg.userAgent;
        if (ua) await this.send('Emulation.setUserAgentOverride', { userAgent: ua });
        return {};
      }
      case 'goto': {
        const loaded = this.expectNavigation();
        const r = await this.send('Page.navigate', { url: arg });
        // An HTTP error with an empty body also sets errorText, but has a response.
        if (r.errorText && !this.nav.doc) throw new Error(`navigation to ${arg} failed: ${r.errorText}`);
        if (!r.loaderId) return { status: null, url: await this.evaluate('location.href'), headers: {}, redirects: [] };
        await loaded;
        return this.navResult();
      }
      case 'eval':
        return { value: await this.evaluate(arg) };
      case 'text':
        return { value: await this.evaluate('document.body ? document.body.innerText : ""') };
      case 'click': {
        this.nav = null;
        const { x, y } = await this.locate(arg);
        const loaded = step.waitNavigation ? this.expectNavigation() : null;
        const mouse = { x, y, button: 'left', clickCount: 1 };
        await this.send('Input.dispatchMouseEvent', { type: 'mouseMoved', x, y });
        await this.send('Input.dispatchMouseEvent', { type: 'mousePressed', buttons: 1, ...mouse });
        await this.send('Input.dispatchMouseEvent', { type: 'mouseReleased', buttons: 0, ...mouse });
        if (!loaded) return {};
        await loaded;
        return this.navResult();
      }
      case 'type': {
        const sel = arg.selector;
        await this.locate(sel);
        const focused = await this.evaluate(`(${(s) => {
          const el = document.querySelector(s);
          el.focus();
          const end = typeof el.value === 'string' ? el.value.length : 0; // type at the end
          try { el.setSelectionRange(end, end); } catch (e) { /* not a text field */ }
          return document.activeElement === el;
        }})(${JSON.stringify(sel)})`);
        if (!focused) throw new Error(`element ${sel} cannot take the focus`);
        await this.send('Input.insertText', { text: String(arg.text) });
        return {};
      }
      case 'screenshot': {
        // Full page: clip to the whole content, rendered beyond the viewport.
        const { cssContentSize: size } = await this.send('Page.getLayoutMetrics');
        const shot = await this.send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true,
          clip: { x: 0, y: 0, width: Math.ceil(size.width), height: Math.ceil(size.height), scale: 1 } });
        const png = Buffer.from(shot.data, 'base64');
        fs.writeFileSync(arg, png);
        return { bytes: png.length };
      }
    }
    throw new Error(`unknown step ${verb}`);
  }
}

function remoteText(o) {
  if (o.type === 'string') return o.value;
  if (o.unserializableValue !== undefined) return o.unserializableValue;
  if (o.value !== undefined) return JSON.stringify(o.value);
  return o.description || o.type;
}

function exceptionText(d) {
  return (d.exception && (d.exception.description || remoteText(d.exception))) || d.text;
}

/* ---- launching, running, cleaning up ---- */

async function main() {
  let opt;
  try { opt = parseArgs(process.argv.slice(2)); } catch (e) {
    process.stderr.write(`cdp.js: ${e.message}\n${USAGE}`);
    process.exit(EXIT_USAGE);
  }
  const out = { ok: false, step: null, error: null, results: [], console: [], failed: [] };
  let child = null, alive = false, launched = false, cdp = null, page = null, profile = null, finished = false;
  let stderr = '';

  // Ends the run exactly once: closes Chromium, removes the profile, prints.
  async function finish(code, error, step = null) {
    if (finished) return;
    finished = true;
    if (error) Object.assign(out, { ok: false, step, error });
    else { out.ok = true; delete out.step; delete out.error; }
    if (page) Object.assign(out, { console: page.console, failed: page.failed });
    if (alive && launched) {    // ask nicely, then don't wait long
      await withTimeout(cdp.send('Browser.close'), 2000, 'Browser.close').catch(() => {});
      if (alive) await withTimeout(new Promise((r) => child.once('exit', r)), 3000, 'exit').catch(() => {});
    }
    killGroup();
    if (profile) fs.rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    profile = null;
    if (code === EXIT_LAUNCH) process.stderr.write(`cdp.js: ${error}\n`);
    process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(code));
  }
  // Chromium's helpers (zygote, renderer, ...) share its process group.
  function killGroup() {
    if (child && child.pid) try { process.kill(-child.pid, 'SIGKILL'); } catch (e) { /* all gone */ }
  }
  process.on('exit', () => { killGroup(); if (profile) fs.rmSync(profile, { recursive: true, force: true }); });
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => finish(EXIT_STEP, `killed by ${sig}`, out.results.length));
  // Chromium's stderr, less the noise of every run on a machine without a
  // D-Bus system bus, and the wrapper /usr/bin/chromium's complaint when
  // findmnt lists /dev/shm twice.
  const stderrTail = () => {
    const text = stderr.split('\n').filter((l) => l.trim() && !/dbus|DBus|unexpected operator/.test(l)).join('\n');
    return text ? `; chromium said:\n${text.slice(-2000)}` : '';
  };

  // Launch. Everything up to an attached tab is a launch failure (exit 2).
  const overall = setTimeout(() => {
    const i = out.results.length;
    if (!launched) finish(EXIT_LAUNCH, `overall timeout after ${opt.timeoutMs} ms while starting chromium${stderrTail()}`);
    else finish(EXIT_STEP, `overall timeout after ${opt.timeoutMs} ms, in step ${i} (${verbOf(opt.steps[i])})`, i);
  }, opt.timeoutMs);
  overall.unref();
  try {
    try { fs.accessSync(opt.chromium, fs.constants.X_OK); } catch (e) {
      throw new Error(e.code === 'ENOENT' ? `chromium not found at ${opt.chromium}: apt-get install chromium`
        : `chromium at ${opt.chromium} cannot be run (${e.code})`);
    }
    // The temp dir holds the profile and, through the environment, what
    // Chromium would otherwise put in $HOME (crashpad's "Crash Reports",
    // dconf's cache) and /tmp (its singleton socket). Chromium gets its own
    // process group (detached) so that its helpers can be killed together.
    profile = fs.mkdtempSync(path.join(os.tmpdir(), 'cdp-chromium-'));
    fs.mkdirSync(path.join(profile, 'tmp'));
    const env = { ...process.env, XDG_CONFIG_HOME: path.join(profile, 'config'),
      XDG_CACHE_HOME: path.join(profile, 'cache'), TMPDIR: path.join(profile, 'tmp') };
    child = spawn(opt.chromium, chromiumArgs(path.join(profile, 'profile')),
      { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], detached: true, env });
    alive = true;
    cdp = new Cdp(child.stdio[3], child.stdio[4]);
    child.stderr.on('data', (d) => { stderr = (stderr + d).slice(-65536); });
    const gone = new Promise((_, reject) => {
      child.on('error', (e) => { alive = false; cdp.fail(e); reject(new Error(`cannot start ${opt.chromium}: ${e.message}`)); });
      child.on('exit', (code, sig) => {
        alive = false;
        debug('exit', { method: `chromium ${sig || code}` });
        const e = new Error(`chromium exited (${sig || `status ${code}`})${stderrTail()}`);
        cdp.fail(e);
        reject(e);
      });
    });
    gone.catch(() => {});
    const attach = (async () => {
      const version = await cdp.send('Browser.getVersion');
      const { targetInfos } = await cdp.send('Target.getTargets');
      const target = targetInfos.find((t) => t.type === 'page');
      const targetId = target ? target.targetId : (await cdp.send('Target.createTarget', { url: 'about:blank' })).targetId;
      const { sessionId } = await cdp.send('Target.attachToTarget', { targetId, flatten: true });
      const { frameTree } = await cdp.send('Page.getFrameTree', {}, sessionId);
      page = new Page(cdp, sessionId, frameTree.frame.id);
      await Promise.all(['Page', 'Network', 'Runtime', 'DOM', 'Log'].map((d) => page.send(`${d}.enable`)));
      return version;
    })();
    await withTimeout(Promise.race([attach, gone]), Math.min(15000, opt.timeoutMs), 'starting chromium');
    launched = true;
  } catch (e) {
    return finish(EXIT_LAUNCH, e.message + (e.message.includes('chromium said') ? '' : stderrTail()));
  }

  // The steps, in order, each with its own time limit.
  for (let i = 0; i < opt.steps.length; i++) {
    const step = opt.steps[i], verb = verbOf(step), ms = step.timeoutMs || STEP_TIMEOUT_MS;
    try {
      out.results.push(await withTimeout(page.run(step), ms,
        () => `step ${i} (${verb})${page.nav && page.nav.waiting ? ' waiting for a page to load' : ''}`));
    } catch (e) {
      const name = `step ${i} (${verb})`;
      return finish(EXIT_STEP, e.message.startsWith(name) ? e.message : `${name}: ${e.message}`, i);
    }
    if (finished) return;
  }
  clearTimeout(overall);
  return finish(0, null);
}

main();
