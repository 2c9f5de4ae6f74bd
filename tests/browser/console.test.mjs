// The console in a real browser (issue 11): Debian's Chromium, driven by
// playwright-core, against the real `doorstep serve` on a free port of
// 127.0.0.1, with a county seeded by the real CLI in a temporary
// directory. A supervisor of one township signs in, drills down to a
// village, opens a household and its visits, settles a conflict (and the
// phones receive the outcome), downloads an XLSX and checks its rows, and
// revokes a device (whose next sync is refused). Each step is named on
// stderr; the run exits 1 if any step fails or is skipped.
//
//   DOORSTEP_BIN   the binary (default $CARGO_TARGET_DIR/release/doorstep,
//                  or target/release/doorstep)
//   CHROMIUM       the browser (default /usr/bin/chromium)
//   SCREENSHOTS=1  also save the main pages to docs/screenshots/*.png
//   KEEP_TEMP=1    keep the temporary directory (server log, databases,
//                  a screenshot of each failed step) and print its path

import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { Doorstep } from './lib/doorstep.mjs';
import { recordVisits, seedCounty } from './lib/county.mjs';
import { Steps, log } from './lib/steps.mjs';
import { consoleSteps } from './lib/journey.mjs';

const repository = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const binary =
  process.env.DOORSTEP_BIN ||
  join(process.env.CARGO_TARGET_DIR || join(repository, 'target'), 'release', 'doorstep');
const browserPath = process.env.CHROMIUM || '/usr/bin/chromium';
const screenshots = process.env.SCREENSHOTS === '1' ? join(repository, 'docs', 'screenshots') : null;
const keep = process.env.KEEP_TEMP === '1';

for (const [what, path, hint] of [
  ['doorstep binary', binary, 'cargo build --release -p doorstep, or set DOORSTEP_BIN'],
  ['Chromium', browserPath, 'apt-get install chromium, or set CHROMIUM'],
]) {
  if (!existsSync(path)) {
    log(`error: no ${what} at ${path} (${hint})`);
    process.exit(2);
  }
}

const directory = mkdtempSync(join(tmpdir(), 'doorstep-browser-'));
const doorstep = new Doorstep(binary, directory);
let browser = null;
let activePage = null;

function cleanUp() {
  doorstep.killNow();
  if (keep) {
    log(`kept ${directory}`);
  } else {
    rmSync(directory, { recursive: true, force: true });
  }
}
process.on('exit', () => doorstep.killNow());
// A promise nobody waited for must not end the run before the summary.
process.on('unhandledRejection', (error) => log(`unexpected: ${error?.message ?? error}`));
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    log(`stopped by ${signal}`);
    cleanUp();
    process.exit(130);
  });
}

const steps = new Steps({
  async onFailure(id) {
    if (!activePage || activePage.isClosed()) return;
    log(`  the browser was on ${activePage.url()}`);
    if (keep) {
      await activePage.screenshot({ path: join(directory, `failed-${id}.png`) });
    }
  },
});

const world = { repository, directory, doorstep, screenshots, steps };

try {
  await steps.run('seed', 'seed a county with the CLI: two townships, cadres, a supervisor and an admin', async () => {
    world.county = seedCounty(doorstep, repository);
  });
  await steps.run(
    'serve',
    'start doorstep serve on 127.0.0.1:0',
    async () => {
      world.url = await doorstep.serve();
      log(`  server at ${world.url}`);
    },
    { needs: ['seed'] },
  );
  await steps.run(
    'phones',
    'enroll three devices, record visits offline, make a same-field conflict, sync',
    async () => {
      world.field = recordVisits(doorstep, world.url, world.county);
    },
    { needs: ['serve'] },
  );
  await steps.run(
    'browser',
    'launch headless Chromium',
    async () => {
      browser = await chromium.launch({ executablePath: browserPath, args: ['--no-sandbox'] });
      log(`  Chromium ${browser.version()}`);
      world.browser = browser;
      world.context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
      world.page = await world.context.newPage();
      world.page.setDefaultTimeout(10_000);
      world.page.setDefaultNavigationTimeout(20_000);
      // A confirmation before a revoke or a restore is accepted.
      world.page.on('dialog', (dialog) => dialog.accept());
      activePage = world.page;
    },
    { needs: ['serve'] },
  );
  if (screenshots) mkdirSync(screenshots, { recursive: true });
  world.setActivePage = (page) => {
    activePage = page;
  };
  await consoleSteps(world);
} catch (error) {
  log(`error: ${error.stack || error.message}`);
  steps.results.push({ id: 'runner', title: 'the runner itself', status: 'failed', message: error.message });
} finally {
  if (browser) await browser.close().catch(() => {});
  await doorstep.stop();
}

const passed = steps.summary();
if (!passed) {
  log('the server log ends with:');
  process.stderr.write(`${doorstep.serverLog(15)}\n`);
}
cleanUp();
process.exit(passed ? 0 : 1);
