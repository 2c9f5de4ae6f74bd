// The steps in the browser, in the order an official would take them.
// Each names what it checks; a step that needs one that failed is skipped
// (and counts as not passed).

import { join } from 'node:path';

import { KEPT_PHONE, LOST_PHONE } from './county.mjs';
import {
  SUBMIT,
  drillTo,
  filledCell,
  householdLinks,
  open,
  progressRows,
  signIn,
  submitAndWait,
  waitAfter,
} from './console.mjs';
import { check, equal, log, number } from './steps.mjs';
import { readWorkbook } from './xlsx.mjs';

export async function consoleSteps(world) {
  const { steps, doorstep } = world;
  const shoot = async (page, name) => {
    if (world.screenshots) await page.screenshot({ path: join(world.screenshots, `${name}.png`) });
  };
  const seeded = ['sign-in', 'phones'];

  await steps.run(
    'sign-in',
    'sign in as the supervisor of township A and set a new password',
    async () => {
      const { page } = world;
      await signIn(page, world.url, world.county.supervisor, {
        beforeSignIn: async () => {
          equal(await page.getAttribute('html', 'lang'), 'zh-CN', '<html lang> of the sign-in page');
          await shoot(page, 'login');
        },
      });
    },
    { needs: ['browser'] },
  );

  await steps.run(
    'language',
    'switch the console to English and back (a#lang-en, a#lang-zh)',
    async () => {
      const { page } = world;
      await open(page, `${world.url}/console/`);
      await submitAndWait(page, page.locator('a#lang-en'));
      equal(await page.getAttribute('html', 'lang'), 'en', '<html lang> after a#lang-en');
      await submitAndWait(page, page.locator('a#lang-zh'));
      equal(await page.getAttribute('html', 'lang'), 'zh-CN', '<html lang> after a#lang-zh');
    },
    { needs: ['sign-in'] },
  );

  await steps.run(
    'progress',
    'progress: drill down from the supervisor’s township to a village and its groups',
    async () => {
      const { page } = world;
      const { village } = world.county;
      await open(page, `${world.url}/console/progress`);
      for (const selector of ['table#progress', 'svg#visits-per-day', 'nav#crumbs']) {
        equal(await page.locator(selector).count(), 1, `${selector} on the progress page`);
      }
      await shoot(page, 'progress');
      if (world.screenshots) {
        const phone = await world.browser.newContext({
          viewport: { width: 390, height: 844 },
          isMobile: true,
          deviceScaleFactor: 2,
          storageState: await world.context.storageState(),
        });
        const small = await phone.newPage();
        await open(small, `${world.url}/console/progress`);
        await shoot(small, 'progress-phone');
        await phone.close();
      }
      const row = await drillTo(page, village.code);
      equal(number(row.households), village.households, `households of village ${village.code}`);
      equal(number(row.visited), world.field.visitedInVillage, `visited households of village ${village.code}`);
      equal(number(row.notVisited), village.households - world.field.visitedInVillage, 'households not yet visited');
      equal(number(row.recent), world.field.visitedInVillage, 'households visited in the last 7 days');
      check((await page.locator('nav#crumbs').innerText()).length > 0, 'nav#crumbs is empty at the village');

      // At the village, the rows are its groups, each linking to its households.
      const groups = await progressRows(page);
      const sum = (key) => groups.reduce((total, group) => total + number(group[key]), 0);
      equal(sum('households'), village.households, 'households of the village’s groups, added up');
      equal(sum('visited'), world.field.visitedInVillage, 'visited households of the groups, added up');
      const group = groups.find((each) => each.href);
      check(group !== undefined, 'no group links to its households');
      await submitAndWait(page, page.locator('table#progress tr.area a.area-link').first());
      equal(new URL(page.url()).pathname, '/console/households', 'a group’s link leads to');
      const listed = (await householdLinks(page)).length;
      const paged = (await page.locator('nav.pager a.next').count()) > 0;
      check(paged ? listed < number(group.households) : listed === number(group.households),
        `the group lists ${listed} households, its row said ${number(group.households)}`);
    },
    { needs: seeded },
  );

  await steps.run(
    'scope',
    'a supervisor of township A finds nothing of township B (404)',
    async () => {
      const { page } = world;
      const { townshipA, townshipB, county } = world.county;
      // The same pages of township A open: the 404s below are the scope's.
      await open(page, `${world.url}/console/progress?area=${townshipA}`);
      await open(page, `${world.url}/console/households/${world.field.household.id}`);
      for (const path of [
        `/console/progress?area=${townshipB}`,
        `/console/households?area=${townshipB}`,
        `/console/households/${world.field.householdB.id}`,
        `/console/progress?area=${county}`,
      ]) {
        await open(page, `${world.url}${path}`, { status: 404 });
      }
    },
    { needs: seeded },
  );

  await steps.run(
    'households',
    'households: list a village, search, filter, open a household and see its visits',
    async () => {
      const { page } = world;
      const { village } = world.county;
      const { household, third, visits } = world.field;
      const base = `${world.url}/console/households?area=${village.code}`;
      await open(page, base);
      const first = await householdLinks(page);
      check(first.length > 0, 'no tr.household rows for the village');
      await shoot(page, 'households');
      if (first.length < village.households) {
        equal(await page.locator('nav.pager a.next').count(), 1, `nav.pager a.next (page 1 shows ${first.length} of ${village.households})`);
        await submitAndWait(page, page.locator('nav.pager a.next'));
        const second = await householdLinks(page);
        check(second.length > 0 && !second.some((id) => first.includes(id)), 'page 2 repeats households of page 1');
      } else {
        equal(first.length, village.households, 'households listed for the village');
      }

      // The search form: the head's name, as on the phone.
      await open(page, base);
      await page.fill('form#search input[name=q]', household.name);
      await waitAfter(page, 'load', () => page.press('form#search input[name=q]', 'Enter'));
      check(new URL(page.url()).searchParams.get('q') === household.name, 'the search did not send q');
      check((await householdLinks(page)).includes(household.id), 'the household is not found by its head’s name');

      // Filters: the household was visited, and its latest visit is below the line.
      await open(page, `${base}&q=${encodeURIComponent(household.name)}&filter=unvisited`);
      check(!(await householdLinks(page)).includes(household.id), 'a visited household is listed as not visited');
      await open(page, `${base}&filter=below_line`);
      equal((await householdLinks(page)).sort().join(','), [household.id, third.id].sort().join(','), 'households below the line');

      await open(page, `${base}&q=${encodeURIComponent(household.name)}`);
      await submitAndWait(page, page.locator(`a.household-link[href$="/console/households/${household.id}"]`).first());
      equal(new URL(page.url()).pathname, `/console/households/${household.id}`, 'the household link leads to');
      for (const selector of ['section#fields', 'section#history', 'section#visits']) {
        equal(await page.locator(selector).count(), 1, `${selector} on the household page`);
      }
      const shown = await page.$$eval('section#visits article.visit', (articles) =>
        articles.map((article) => ({ id: article.dataset.visitId, labels: article.querySelectorAll('dl dt').length })),
      );
      equal(shown.map((visit) => visit.id).sort().join(','), [...visits.household].sort().join(','), 'article.visit data-visit-id');
      check(shown.every((visit) => visit.labels > 0), 'a visit shows no answers (dl dt)');
      await shoot(page, 'household');
    },
    { needs: seeded },
  );

  await steps.run(
    'review',
    'review: restore the value that lost a conflict; the phones receive it on their next sync',
    async () => {
      const { page } = world;
      const { household } = world.field;
      await open(page, `${world.url}/console/review`);
      const row = page.locator(`tr.conflict[data-household-id="${household.id}"]`);
      equal(await row.count(), 1, 'tr.conflict rows of the household');
      const text = await row.innerText();
      check(text.includes(LOST_PHONE) && text.includes(KEPT_PHONE), 'the conflict row does not show both values');
      await shoot(page, 'review');
      await submitAndWait(page, row.locator('button.restore'));
      equal(new URL(page.url()).pathname, '/console/review', 'page after restoring');
      await filledCell(page.locator(`tr.conflict[data-household-id="${household.id}"]`), 'td.resolution', 'the resolved conflict');
      for (const name of ['two', 'one']) {
        doorstep.ok(doorstep.device(name, ['sync']));
        const shownOnPhone = doorstep.json(doorstep.device(name, ['household', household.id, '--json']));
        equal(shownOnPhone.household.phone, LOST_PHONE, `the phone on device ${name} after its sync`);
      }
      await open(page, `${world.url}/console/review/rejected`);
      equal(await page.locator('tr.rejected').count(), 0, 'tr.rejected rows (nothing was rejected)');
    },
    { needs: seeded },
  );

  await steps.run(
    'export',
    'export: download an XLSX of township A’s visits and check its rows',
    async () => {
      const { page } = world;
      const { visits } = world.field;
      await open(page, `${world.url}/console/export`);
      const form = page.locator('form#export');
      equal(await form.count(), 1, 'form#export');
      // The format: a select, radio buttons, or one submit button each.
      const format = form.locator('[name=format]');
      check((await format.count()) > 0, 'no field named format in form#export');
      const kind = await format.first().evaluate((element) => element.tagName);
      let submit = form.locator(SUBMIT).first();
      if (kind === 'SELECT') {
        await format.selectOption('xlsx');
      } else if (kind === 'BUTTON') {
        submit = form.locator('button[name=format][value=xlsx]');
      } else {
        await form.locator('input[name=format][value=xlsx]').check();
      }
      await shoot(page, 'export');
      const download = await waitAfter(page, 'download', () => submit.click());
      const path = join(world.directory, 'visits.xlsx');
      await download.saveAs(path);
      check(new URL(download.url()).pathname === '/console/export/visits', `the download came from ${download.url()}`);

      const sheets = readWorkbook(path);
      check(sheets.length >= 3, `${sheets.length} sheets: expected the visits and one per repeat (members, migrants)`);
      const [visitSheet, ...repeats] = sheets;
      check(visitSheet.rows.length > 0, 'the visits sheet has no header row');
      const rows = visitSheet.rows.slice(1);
      equal(rows.length, visits.townshipA.length, `rows of the visits sheet (${visitSheet.name})`);
      for (const id of visits.townshipA) {
        equal(rows.filter((row) => row.includes(id)).length, 1, `rows with visit ${id}`);
      }
      const everything = new Set(sheets.flatMap((sheet) => sheet.rows.flat()));
      check(!visits.townshipB.some((id) => everything.has(id)), 'the export holds a visit of township B');
      for (const sheet of repeats) {
        check(
          sheet.rows.slice(1).every((row) => visits.townshipA.some((id) => row.includes(id))),
          `a row of sheet ${sheet.name} names no visit of the export`,
        );
      }
      // Members: 3 + 5 (the household), 3 (the richer one), 5 (the third);
      // migrants: one in each of the two poorer visits.
      const counts = repeats.map((sheet) => sheet.rows.length - 1).sort((a, b) => a - b);
      check(counts.includes(16) && counts.includes(2), `repeat sheets with ${counts.join(', ')} rows: expected 16 members and 2 migrants`);
    },
    { needs: seeded },
  );

  await steps.run(
    'cadres',
    'cadres: an enrolment code shown as a QR code enrolls a device',
    async () => {
      const { page } = world;
      await open(page, `${world.url}/console/cadres`);
      equal(await page.locator('tr.cadre').count(), 2, 'tr.cadre rows (the two cadres of township A)');
      await submitAndWait(page, page.locator('tr.cadre a').first());
      await page.locator('button.enrol-code').click();
      await page.locator('svg.qr').waitFor();
      const code = (await page.locator('code.enrol-code').innerText()).trim();
      check(code.length > 0, 'code.enrol-code is empty');
      doorstep.ok(doorstep.device('four', ['enroll', '--server', world.url, '--code', code]));
    },
    { needs: seeded },
  );

  await steps.run(
    'lists',
    'at-risk and coming-home pages',
    async () => {
      const { page } = world;
      await open(page, `${world.url}/console/risk`);
      for (const selector of ['table#risk', 'svg#income-distribution']) {
        equal(await page.locator(selector).count(), 1, `${selector} on the risk page`);
      }
      await open(page, `${world.url}/console/coming-home`);
      check((await page.locator('section.return-day').count()) >= 1, 'no section.return-day (two members come home in a month)');
    },
    { needs: seeded },
  );

  await steps.run(
    'devices',
    'devices: revoke a device; its next sync is refused (exit 4), the others still sync',
    async () => {
      const { page } = world;
      const { devices } = world.field;
      await open(page, `${world.url}/console/devices`);
      const row = (id) => page.locator(`tr.device[data-device-id="${id}"]`);
      equal(await row(devices.one).count(), 1, 'the row of device one');
      equal(await row(devices.two).count(), 1, 'the row of device two');
      equal(await row(devices.three).count(), 0, 'rows of township B’s device');
      await shoot(page, 'devices');
      await submitAndWait(page, row(devices.two).locator('button.revoke'));
      await filledCell(row(devices.two), 'td.revoked', 'the revoked device’s row');
      const refused = doorstep.run(doorstep.device('two', ['sync']));
      equal(refused.code, 4, 'exit code of the revoked device’s sync');
      equal(doorstep.run(doorstep.device('one', ['sync'])).code, 0, 'exit code of the other device’s sync');
    },
    { needs: seeded },
  );

  await steps.run(
    'admin',
    'an admin drills down from the county to the village, and sees the forms',
    async () => {
      world.adminContext = await world.browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await world.adminContext.newPage();
      page.setDefaultTimeout(10_000);
      world.setActivePage(page);
      const { county, townshipA, townshipB, village } = world.county;
      await signIn(page, world.url, world.county.admin);
      await open(page, `${world.url}/console/progress?area=${county}`);
      const rows = await progressRows(page);
      equal(rows.map((row) => row.area).sort().join(','), [townshipA, townshipB].sort().join(','), 'the county’s townships');
      equal(rows.reduce((total, row) => total + number(row.households), 0), world.county.households, 'the county’s households');
      await drillTo(page, village.code);
      await open(page, `${world.url}/console/forms`);
      equal(await page.locator('table#forms').count(), 1, 'table#forms');
      check((await page.locator('table#forms').innerText()).includes('household_check'), 'the published form is not listed');
      equal(await page.locator('form#upload input[type=file][name=file]').count(), 1, 'the upload field');
    },
    { needs: ['browser', 'phones'] },
  );
  world.setActivePage(world.page);
  if (world.adminContext) await world.adminContext.close();
  if (world.screenshots) log(`screenshots in ${world.screenshots}`);
}
