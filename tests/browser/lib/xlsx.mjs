// Reads an XLSX workbook's sheets as rows of cell texts: enough to check an
// export's rows, not a general reader. The zip is opened with fflate; the
// sheets' XML (shared strings, inline strings, numbers) is read with
// regular expressions, which is sound for the plain SpreadsheetML that
// writers emit (no nested elements inside a cell's value).

import { readFileSync } from 'node:fs';
import { strFromU8, unzipSync } from 'fflate';

const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decode(text) {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, name) => {
    if (name.startsWith('#x')) return String.fromCodePoint(parseInt(name.slice(2), 16));
    if (name.startsWith('#')) return String.fromCodePoint(parseInt(name.slice(1), 10));
    return ENTITIES[name] ?? whole;
  });
}

/** The text of every `<t>` in a fragment (a rich-text run or a plain string). */
function texts(fragment) {
  return [...fragment.matchAll(/<t\b[^>]*>([\s\S]*?)<\/t>|<t\b[^>]*\/>/g)]
    .map((match) => decode(match[1] ?? ''))
    .join('');
}

function attribute(attributes, name) {
  const match = attributes.match(new RegExp(`\\b${name}="([^"]*)"`));
  return match ? decode(match[1]) : undefined;
}

/** The zero-based column of a cell reference such as `AB12`. */
function column(reference) {
  const letters = (reference.match(/^[A-Z]+/) || [''])[0];
  let index = 0;
  for (const letter of letters) index = index * 26 + (letter.charCodeAt(0) - 64);
  return index - 1;
}

function readRows(xml, shared) {
  const rows = [];
  for (const row of xml.matchAll(/<row\b[^>]*?(?:\/>|>([\s\S]*?)<\/row>)/g)) {
    const cells = [];
    for (const cell of (row[1] ?? '').matchAll(/<c\b([^>]*?)(?:\/>|>([\s\S]*?)<\/c>)/g)) {
      const attributes = cell[1];
      const body = cell[2] ?? '';
      const type = attribute(attributes, 't');
      const value = (body.match(/<v>([\s\S]*?)<\/v>/) || [])[1];
      let text;
      if (type === 's') text = shared[Number(value)] ?? '';
      else if (type === 'inlineStr') text = texts(body);
      else text = value === undefined ? '' : decode(value);
      const reference = attribute(attributes, 'r');
      const index = reference ? column(reference) : cells.length;
      cells[index] = text;
    }
    rows.push(Array.from(cells, (text) => text ?? ''));
  }
  return rows;
}

/**
 * The workbook's sheets in their order: `[{ name, rows }]`, each row an
 * array of cell texts (numbers as written).
 */
export function readWorkbook(path) {
  const files = unzipSync(new Uint8Array(readFileSync(path)));
  const text = (name) => {
    const bytes = files[name];
    if (!bytes) throw new Error(`the workbook has no ${name}`);
    return strFromU8(bytes);
  };
  const shared = files['xl/sharedStrings.xml']
    ? [...text('xl/sharedStrings.xml').matchAll(/<si\b[^>]*>([\s\S]*?)<\/si>/g)].map((m) => texts(m[1]))
    : [];
  const targets = new Map(
    [...text('xl/_rels/workbook.xml.rels').matchAll(/<Relationship\b([^>]*)\/?>/g)].map((m) => [
      attribute(m[1], 'Id'),
      attribute(m[1], 'Target'),
    ]),
  );
  return [...text('xl/workbook.xml').matchAll(/<sheet\b([^>]*)\/?>/g)].map((match) => {
    const name = attribute(match[1], 'name');
    const target = targets.get(attribute(match[1], 'r:id'));
    if (!target) throw new Error(`sheet ${name} has no part`);
    const part = target.startsWith('/') ? target.slice(1) : `xl/${target}`;
    return { name, rows: readRows(text(part), shared) };
  });
}
