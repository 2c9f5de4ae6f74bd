// The county the browser test works on, seeded with the CLI before the
// browser opens: generated households in two townships of one county, a
// supervisor of township A and an admin, two cadres' devices in a village
// of A and one in township B, visits recorded and synced, and a
// same-field conflict (both cadres of the village change one household's
// phone offline, then sync).

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Households generated (seed 4 gives one county with two townships). */
const HOUSEHOLDS = 240;
const SEED = 4;

/** The phones the two cadres write offline; the second wins the merge. */
export const LOST_PHONE = '13900000001';
export const KEPT_PHONE = '13900000002';

function day(offset) {
  const date = new Date(Date.now() + offset * 86_400_000);
  return date.toISOString().slice(0, 10);
}

/**
 * A visit of the demo form. `poor`: per-capita net income 8,860, below the
 * 10,000 line, with five members and one member working away who comes
 * home in a month; otherwise 24,460 with three members. The names are made
 * up and never printed.
 */
function answers(poor) {
  const members = [
    { member_name: '张明', relation: 'head', age: 48, able_to_work: 'full' },
    { member_name: '李芳', relation: 'spouse', age: 45, able_to_work: 'full' },
    { member_name: '王秀英', relation: 'parent', age: 71, able_to_work: 'none' },
  ];
  if (poor) {
    members.push(
      { member_name: '张小兰', relation: 'child', age: 10, in_school: 'yes' },
      { member_name: '张强', relation: 'child', age: 22, able_to_work: 'full' },
    );
  }
  return {
    visit_date: day(0),
    respondent: 'head',
    members,
    migrants: poor
      ? [
          {
            migrant_name: '张强',
            destination: 'outside_province',
            city: '深圳',
            monthly_income: 6000,
            return_date: day(30),
          },
        ]
      : [],
    income_wages: poor ? 42000 : 120000,
    income_business: 3000,
    income_transfer: 1800,
    production_costs: 2500,
    food_clothing_ok: 'yes',
    education_ok: 'yes',
    medical_insurance_ok: 'yes',
    housing_safe: 'yes',
    drinking_water_safe: 'yes',
    risk_category: 'none',
    relocated: 'no',
    support_needed: ['training'],
  };
}

/** Seeds the server's database; returns what the steps need to know. */
export function seedCounty(doorstep, repository) {
  const csv = doorstep.ok(['gen', 'households', '--count', String(HOUSEHOLDS), '--seed', String(SEED)]);
  writeFileSync(join(doorstep.directory, 'households.csv'), csv);
  doorstep.ok(doorstep.admin(['import-households', join(doorstep.directory, 'households.csv')]));
  doorstep.ok(doorstep.admin(['publish-form', join(repository, 'forms', 'household-check.json')]));

  // Two townships of one county: A has the more villages.
  const villages = doorstep.json(doorstep.admin(['villages', '--json']));
  const townships = new Map();
  for (const village of villages) {
    const code = village.code.slice(0, 9);
    if (!townships.has(code)) townships.set(code, []);
    townships.get(code).push(village);
  }
  const ordered = [...townships.entries()].sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]));
  if (ordered.length < 2 || ordered[0][0].slice(0, 6) !== ordered[1][0].slice(0, 6)) {
    throw new Error(`expected two townships of one county in the generated households, got ${[...townships.keys()].join(', ')}`);
  }
  const [townshipA, villagesA] = ordered[0];
  const [townshipB, villagesB] = ordered[1];
  const village = villagesA[0];
  const county = townshipA.slice(0, 6);

  const cadre = (name, villageCode) => {
    const id = doorstep.line(doorstep.admin(['add-cadre', '--name', name]));
    doorstep.ok(doorstep.admin(['assign', '--cadre', id, '--village', villageCode]));
    return id;
  };
  const cadres = { one: cadre('浏览器测试甲', village.code), two: cadre('浏览器测试乙', village.code) };
  cadres.three = cadre('浏览器测试丙', villagesB[0].code);

  const supervisor = { name: 'browser.supervisor', newPassword: 'supervisor-password-1' };
  supervisor.password = doorstep.line(
    doorstep.admin(['add-user', '--name', supervisor.name, '--role', 'supervisor', '--area', townshipA]),
  );
  const admin = { name: 'browser.admin', newPassword: 'admin-password-12' };
  admin.password = doorstep.line(doorstep.admin(['add-user', '--name', admin.name, '--role', 'admin']));

  return {
    county,
    townshipA,
    townshipB,
    village,
    villagesA,
    villagesB,
    households: villages.reduce((sum, each) => sum + each.households, 0),
    cadres,
    supervisor,
    admin,
  };
}

/**
 * With the server running: enrolls the three devices, records visits
 * (four in township A, two in B), makes the conflict, and syncs until
 * every device is up to date.
 */
export function recordVisits(doorstep, url, county) {
  const devices = {};
  for (const name of ['one', 'two', 'three']) {
    const code = doorstep.line(doorstep.admin(['enroll-code', '--cadre', county.cadres[name]]));
    devices[name] = doorstep.line(doorstep.device(name, ['enroll', '--server', url, '--code', code]));
    doorstep.ok(doorstep.device(name, ['sync']));
  }
  const list = (name) => doorstep.json(doorstep.device(name, ['households', '--json']));
  const villageHouseholds = list('one');
  if (villageHouseholds.length !== county.village.households) {
    throw new Error(`device one received ${villageHouseholds.length} households, its village has ${county.village.households}`);
  }
  const [household, richer, third] = villageHouseholds;
  const householdB = list('three')[0];

  const poorFile = join(doorstep.directory, 'poor.json');
  const richFile = join(doorstep.directory, 'rich.json');
  writeFileSync(poorFile, JSON.stringify(answers(true)));
  writeFileSync(richFile, JSON.stringify(answers(false)));
  const visit = (device, householdId, file) =>
    doorstep.line(doorstep.device(device, ['visit', '--household', householdId, '--answers', file]));

  // The household's latest visit is the poor one: it is below the line.
  const visits = {
    household: [visit('one', household.id, richFile), visit('one', household.id, poorFile)],
    richer: [visit('one', richer.id, richFile)],
    third: [visit('two', third.id, poorFile)],
    townshipB: [visit('three', householdB.id, poorFile), visit('three', householdB.id, poorFile)],
  };
  visits.townshipA = [...visits.household, ...visits.richer, ...visits.third];

  // Both cadres change the same field offline; the second writes later and wins.
  doorstep.ok(doorstep.device('one', ['household', household.id, '--set', `phone=${LOST_PHONE}`]));
  doorstep.ok(doorstep.device('two', ['household', household.id, '--set', `phone=${KEPT_PHONE}`]));
  for (const name of ['one', 'two', 'three', 'one', 'two']) {
    doorstep.ok(doorstep.device(name, ['sync']));
  }
  const conflicts = doorstep.json(doorstep.admin(['conflicts', '--json']));
  const conflict = conflicts.find((each) => each.field === 'phone' && each.lost === LOST_PHONE);
  if (!conflict || conflicts.length !== 1) {
    throw new Error(`expected one conflict on the phone, the server has ${conflicts.length}`);
  }
  return {
    devices,
    household: { id: household.id, name: household.head_name },
    richer: { id: richer.id },
    third: { id: third.id },
    householdB: { id: householdB.id },
    visits,
    visitedInVillage: 3,
  };
}
