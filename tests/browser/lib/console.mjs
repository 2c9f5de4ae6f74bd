// What the steps do in the console's pages, by the selectors of the
// console's contract (ids and classes the pages keep for this test).

import { check, equal } from './steps.mjs';

/** Clicks something that submits a form (or follows a link) and waits for the next page. */
export async function submitAndWait(page, locator) {
  await waitAfter(page, 'load', () => locator.click());
}

/** Does something and waits for a page event (`load`, `download`); resolves to the event. */
export async function waitAfter(page, event, action) {
  const happened = page.waitForEvent(event);
  // If the action fails, nobody awaits the event: its timeout is not news.
  happened.catch(() => {});
  await action();
  return happened;
}

/** A form's submit buttons (a `<button>` submits unless told otherwise). */
export const SUBMIT = 'button:not([type=button]):not([type=reset]), input[type=submit]';

/** Loads a console page; fails unless it answers `status` (200 by default). */
export async function open(page, url, { status = 200 } = {}) {
  const response = await page.goto(url);
  check(response !== null, `no response for ${url}`);
  equal(response.status(), status, `HTTP status of ${new URL(url).pathname}${new URL(url).search}`);
  return response;
}

/**
 * Signs in with a one-time password, sets the new one, and lands on the
 * console's first page. Checks the session cookie's attributes.
 */
export async function signIn(page, base, account, { beforeSignIn } = {}) {
  await open(page, `${base}/console/login`);
  for (const selector of ['#name', '#password']) {
    equal(await page.locator(selector).count(), 1, `inputs ${selector} on the sign-in page`);
  }
  if (beforeSignIn) await beforeSignIn();

  // A wrong password: the sign-in page again, and no session.
  await page.fill('#name', account.name);
  await page.fill('#password', 'not-the-password');
  await submitAndWait(page, page.locator('form:has(#password)').locator(SUBMIT));
  equal(new URL(page.url()).pathname, '/console/login', 'page after a wrong password');
  const cookies = await page.context().cookies();
  check(!cookies.some((cookie) => cookie.name === 'doorstep_console'), 'a wrong password gave a session cookie');

  await page.fill('#name', account.name);
  await page.fill('#password', account.password);
  await submitAndWait(page, page.locator('form:has(#password)').locator(SUBMIT));
  equal(new URL(page.url()).pathname, '/console/password', 'page after the first sign-in');
  const session = (await page.context().cookies()).find((cookie) => cookie.name === 'doorstep_console');
  check(session !== undefined, 'no session cookie after signing in');
  check(session.httpOnly && session.secure && session.sameSite === 'Strict', 'the session cookie is not HttpOnly, Secure and SameSite=Strict');

  await page.fill('#current', account.password);
  await page.fill('#new', account.newPassword);
  await submitAndWait(page, page.locator('form:has(#new)').locator(SUBMIT));
  const landed = new URL(page.url()).pathname;
  check(
    landed === '/console/' || landed === '/console/progress',
    `after setting the password the browser is on ${landed}, not /console/ or /console/progress`,
  );
}

/** The `area` a link leads to (null if none). */
function areaOf(href, base) {
  return href ? new URL(href, base).searchParams.get('area') : null;
}

/** The progress table's rows: the area each links to and its counts' texts. */
export async function progressRows(page) {
  const rows = await page.$$eval('table#progress tr.area', (elements) =>
    elements.map((row) => {
      const cell = (name) => row.querySelector(`td.${name}`)?.textContent.trim() ?? '';
      return {
        href: row.querySelector('a.area-link')?.getAttribute('href') ?? null,
        households: cell('households'),
        visited: cell('visited'),
        notVisited: cell('not-visited'),
        recent: cell('recent'),
      };
    }),
  );
  return rows.map((row) => ({ ...row, area: areaOf(row.href, page.url()) }));
}

/**
 * Drills down the progress pages, following each time the row whose area
 * is `target` or one of its ancestors, until it has followed `target`'s
 * own link. Returns that row as it was shown.
 */
export async function drillTo(page, target) {
  for (let level = 0; level < 6; level += 1) {
    const here = new URL(page.url()).searchParams.get('area');
    const rows = await progressRows(page);
    check(rows.length > 0, `no rows tr.area in table#progress on ${page.url()}`);
    const index =
      rows.findIndex((row) => row.area === target) >= 0
        ? rows.findIndex((row) => row.area === target)
        : rows.findIndex((row) => row.area && row.area !== here && target.startsWith(row.area));
    check(index >= 0, `no a.area-link toward area ${target} on ${page.url()} (links to: ${rows.map((row) => row.area).join(', ')})`);
    await submitAndWait(page, page.locator('table#progress tr.area').nth(index).locator('a.area-link'));
    const arrived = new URL(page.url()).searchParams.get('area');
    equal(arrived, rows[index].area, 'the area after following its link');
    if (rows[index].area === target) {
      return rows[index];
    }
  }
  throw new Error(`area ${target} not reached in six levels`);
}

/** The household ids the households table links to, in order. */
export async function householdLinks(page) {
  const hrefs = await page.$$eval('table#households tr.household a.household-link', (links) =>
    links.map((link) => link.getAttribute('href')),
  );
  return hrefs.map((href) => new URL(href, page.url()).pathname.replace(/^\/console\/households\//, ''));
}

/** The non-empty text of the first element matching a selector in a row, or fails. */
export async function filledCell(row, selector, what) {
  const cell = row.locator(selector);
  equal(await cell.count(), 1, `${selector} in ${what}`);
  const text = (await cell.innerText()).trim();
  check(text.length > 0, `${selector} is empty in ${what}`);
  return text;
}
