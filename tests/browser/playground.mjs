// The playground in a real browser: headless Chromium opens GET / of a running gateway,
// waits for the docs explorer to list the Query root type (`query: QueryRoot`), runs the default operation and expects
// data in the result pane. Every request the page makes to a host other than loopback
// is blocked and fails the test, so a pass shows the page needs nothing from outside.
//
//   node tests/browser/playground.mjs http://127.0.0.1:8080 [--screenshot FILE]
//
// Exits 0 on success; otherwise prints why, saves a screenshot (FILE, or
// playground-failure.png beside this script) and exits 1. With --screenshot the picture
// is saved on success too.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const STEP_MS = 30_000;

function usage(message) {
  console.error(`playground.mjs: ${message}`);
  console.error('usage: node playground.mjs GATEWAY_URL [--screenshot FILE]');
  process.exit(2);
}

function isLoopback(hostname) {
  const host = hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

const argv = process.argv.slice(2);
let base;
let screenshot;
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--screenshot') {
    screenshot = argv[++i] ?? usage('--screenshot needs a file');
  } else if (base === undefined) {
    base = argv[i];
  } else {
    usage(`unexpected argument ${argv[i]}`);
  }
}
if (base === undefined) usage('the gateway URL is missing');
let gateway;
try {
  gateway = new URL(base);
} catch {
  usage(`not a URL: ${base}`);
}
if (!isLoopback(gateway.hostname)) usage(`the gateway must be on loopback, not ${gateway.hostname}`);
const failureShot =
  screenshot ?? join(dirname(fileURLToPath(import.meta.url)), 'playground-failure.png');

const blocked = [];
const pageErrors = [];
const graphqlCalls = [];

const profile = await mkdtemp(join(tmpdir(), 'contactgraph-chromium-'));
let context;
let page;
let step = 'launching Chromium';
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1400, height: 900 },
    timeout: STEP_MS,
  });
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol) && !isLoopback(url.hostname)) {
      blocked.push(route.request().url());
      return route.abort('blockedbyclient');
    }
    return route.continue();
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(STEP_MS);
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('response', async (response) => {
    const request = response.request();
    if (request.method() === 'POST' && new URL(request.url()).pathname === '/graphql') {
      let operation;
      try {
        operation = JSON.parse(request.postData() ?? '{}').operationName;
      } catch {
        operation = undefined;
      }
      graphqlCalls.push({
        operation: operation ?? '(unnamed)',
        status: response.status(),
        authorized: /^Bearer \S+$/.test((await request.allHeaders()).authorization ?? ''),
      });
    }
  });

  step = `opening ${new URL('/', gateway)}`;
  const response = await page.goto(new URL('/', gateway).href, { waitUntil: 'load' });
  if (!response || response.status() !== 200) {
    throw new Error(`GET / answered ${response ? response.status() : 'nothing'}`);
  }

  step = 'waiting for GraphiQL to render';
  await page.locator('.graphiql-container').waitFor();

  step = 'opening the docs explorer';
  const explorer = page.locator('.graphiql-doc-explorer');
  if (!(await explorer.isVisible())) {
    await page.getByRole('button', { name: 'Show Documentation Explorer' }).click();
  }
  step = 'waiting for the docs explorer to list the Query root type';
  const queryRoot = explorer
    .locator('div', { has: page.locator('.graphiql-doc-explorer-root-type', { hasText: /^query$/ }) })
    .last();
  await queryRoot.waitFor();
  const rootText = (await queryRoot.innerText()).replace(/\s+/g, ' ').trim();
  if (!/^query: \w*Query\w*$/.test(rootText)) {
    throw new Error(`the docs explorer's query root type reads "${rootText}"`);
  }

  step = 'running the default operation';
  await page.locator('.graphiql-execute-button').click();
  // Several operations in the editor: GraphiQL asks which one to run.
  const choice = page.getByRole('menuitem').first();
  if (await choice.isVisible({ timeout: 2_000 }).catch(() => false)) {
    await choice.click();
  }

  step = 'waiting for data in the result pane';
  const result = page.locator('.result-window');
  await page.waitForFunction(
    () => document.querySelector('.result-window')?.innerText.includes('"data"'),
    null,
    { timeout: STEP_MS },
  );
  const text = await result.innerText();
  if (/"errors"/.test(text) && !/"data":\s*\{/.test(text)) {
    throw new Error(`the result pane shows errors only:\n${text.slice(0, 800)}`);
  }

  step = 'checking what the page asked for';
  if (blocked.length > 0) {
    throw new Error(`the page asked for ${blocked.length} file(s) from outside:\n  ${blocked.join('\n  ')}`);
  }
  if (pageErrors.length > 0) {
    throw new Error(`the page threw:\n  ${pageErrors.join('\n  ')}`);
  }
  const introspection = graphqlCalls.filter((c) => c.operation === 'IntrospectionQuery');
  if (introspection.length === 0) throw new Error('GraphiQL sent no introspection query');
  const bad = graphqlCalls.filter((c) => c.status !== 200 || !c.authorized);
  if (bad.length > 0) {
    throw new Error(`POST /graphql without a key or not answered 200: ${JSON.stringify(bad)}`);
  }

  if (screenshot) await page.screenshot({ path: screenshot });
  const ops = graphqlCalls.map((c) => c.operation).join(', ');
  console.log(`playground ok: docs list "${rootText}", the default operation returned data; /graphql calls: ${ops}`);
  await context.close();
  await rm(profile, { recursive: true, force: true });
} catch (e) {
  console.error(`playground test failed while ${step}: ${e instanceof Error ? e.message : e}`);
  if (blocked.length > 0) console.error(`blocked requests to non-loopback hosts:\n  ${blocked.join('\n  ')}`);
  if (pageErrors.length > 0) console.error(`page errors:\n  ${pageErrors.join('\n  ')}`);
  if (graphqlCalls.length > 0) console.error(`POST /graphql calls: ${JSON.stringify(graphqlCalls)}`);
  if (page) {
    await page
      .screenshot({ path: failureShot })
      .then(() => console.error(`screenshot: ${failureShot}`))
      .catch((err) => console.error(`no screenshot: ${err.message}`));
  }
  await context?.close().catch(() => {});
  await rm(profile, { recursive: true, force: true }).catch(() => {});
  process.exit(1);
}
