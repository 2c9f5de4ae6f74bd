//! Choice lists: sheets `choices` and `external_choices`, and the CSV and
//! XML files published beside the form for `select_one_from_file` and
//! `pulldata()`, read into the definition so a phone needs nothing else.

use std::collections::BTreeMap;

use super::problem::Problem;
use super::sheet::Sheet;
use super::vocabulary::{Meaning, Text, language_key};
use crate::definition::choice_name_problem;
use crate::{Choice, Labels};

/// A choice and where it was read.
#[derive(Debug, Clone)]
pub(super) struct Placed {
    /// The sheet, or the file's name.
    pub(super) sheet: String,
    /// The row index (0 is row 1).
    pub(super) row: usize,
    pub(super) choice: Choice,
}

/// Choice lists by name.
pub(super) type Lists = BTreeMap<String, Vec<Placed>>;

/// Reads sheet `choices` or `external_choices`.
/// With `allow_duplicates` (sheet `external_choices`, or the setting
/// `allow_choice_duplicates`), a name may repeat in a list.
pub(super) fn read_sheet(
    name: &'static str,
    rows: &[Vec<String>],
    label_default: Option<&str>,
    allow_duplicates: bool,
    problems: &mut Vec<Problem>,
) -> Lists {
    let mut lists = Lists::new();
    let Some(sheet) = Sheet::new(name, rows, label_default, problems) else {
        return lists;
    };
    // SurveyCTO writes `value` where XLSForm writes `name`.
    let name_column = if sheet.has(&Meaning::Name) || !sheet.has(&Meaning::Value) {
        Meaning::Name
    } else {
        Meaning::Value
    };
    let wanted = [
        (Meaning::ListName, "list_name"),
        (name_column.clone(), "name"),
    ];
    if !sheet.has_columns(&wanted, problems) {
        return lists;
    }
    for (index, row) in sheet.data_rows() {
        sheet.refuse_values(index, row, problems);
        let list = sheet.cell(row, &Meaning::ListName);
        let choice_name = sheet.cell(row, &name_column);
        let mut label = sheet.texts(row, Text::Label);
        if label.is_empty() {
            // pyxform accepts a choice without a label; the app shows its name.
            label = Labels::plain(choice_name);
        }
        let extra = sheet
            .values_by(row, |meaning| match meaning {
                Meaning::Extra(header) => Some(header.clone()),
                Meaning::Value => Some("value".to_owned()),
                _ => None,
            })
            .into_iter()
            .filter(|(key, _)| name_column != Meaning::Value || key != "value")
            .map(|(key, value)| (key, value.to_owned()))
            .collect();
        let choice = Choice {
            name: choice_name.to_owned(),
            label,
            extra,
        };
        let column = if name_column == Meaning::Value {
            "value"
        } else {
            "name"
        };
        let place = (name, index, column);
        add(&mut lists, place, list, choice, allow_duplicates, problems);
    }
    lists
}

/// Adds a choice to its list, or reports why it cannot be; `place` is the
/// sheet (or file), the row index and the name's column.
fn add(
    lists: &mut Lists,
    place: (&str, usize, &str),
    list: &str,
    choice: Choice,
    allow_duplicates: bool,
    problems: &mut Vec<Problem>,
) {
    let (sheet, index, name_column) = place;
    let mut fine = true;
    if let Some(reason) = choice_name_problem(list) {
        problems.push(Problem::at(
            sheet,
            index,
            "list_name",
            format!("the list name {reason}"),
        ));
        fine = false;
    }
    if choice.name.is_empty() {
        problems.push(Problem::at(
            sheet,
            index,
            name_column,
            "the choice name is empty".to_owned(),
        ));
        fine = false;
    } else if !allow_duplicates
        && lists
            .get(list)
            .is_some_and(|l| l.iter().any(|placed| placed.choice.name == choice.name))
    {
        // pyxform's reason.
        problems.push(Problem::at(
            sheet,
            index,
            name_column,
            format!(
                "the name column for the `{list}` choice list contains the duplicate `{}`: \
                 duplicate names will be impossible to identify in analysis results, \
                 please make sure they are unique",
                choice.name
            ),
        ));
        fine = false;
    }
    if fine {
        lists.entry(list.to_owned()).or_default().push(Placed {
            sheet: sheet.to_owned(),
            row: index,
            choice,
        });
    }
}

/// A table read from a CSV: its header and rows of cells.
pub(super) struct Table {
    pub(super) header: Vec<String>,
    pub(super) rows: Vec<Vec<String>>,
}

impl Table {
    /// A table of `records` (column → cell), its columns in `header`'s
    /// order, a missing cell empty.
    fn of_records(header: Vec<String>, records: Vec<BTreeMap<String, String>>) -> Table {
        let rows = records
            .into_iter()
            .map(|record| {
                header
                    .iter()
                    .map(|column| record.get(column).cloned().unwrap_or_default())
                    .collect()
            })
            .collect();
        Table { header, rows }
    }
}

/// Reads a CSV file (UTF-8, a byte-order mark allowed).
pub(super) fn read_csv(bytes: &[u8]) -> Result<Table, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .from_reader(bytes);
    let mut records = reader.records();
    let header: Vec<String> = match records.next() {
        Some(Ok(record)) => record.iter().map(|c| c.trim().to_owned()).collect(),
        Some(Err(error)) => return Err(format!("not a readable CSV: {error}")),
        None => return Err("the file is empty".to_owned()),
    };
    let mut rows = Vec::new();
    for record in records {
        let record = record.map_err(|error| format!("not a readable CSV: {error}"))?;
        let row: Vec<String> = record.iter().map(|c| c.trim().to_owned()).collect();
        if row.iter().any(|cell| !cell.is_empty()) {
            rows.push(row);
        }
    }
    Ok(Table { header, rows })
}

/// Reads an XML file of `<item>`s whose child elements are the columns
/// (the shape ODK's external XML choices take), with quick-xml: entities,
/// character references and CDATA as XML has them.
pub(super) fn read_xml(bytes: &[u8]) -> Result<Table, String> {
    use quick_xml::events::Event;
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut header: Vec<String> = Vec::new();
    let mut records: Vec<BTreeMap<String, String>> = Vec::new();
    // Inside an item: its columns so far, and the column being read.
    let mut item: Option<BTreeMap<String, String>> = None;
    let mut column: Option<(String, String)> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|error| format!("not readable XML: {error}"))?;
        match event {
            Event::Start(start) => {
                let name = start.name().as_ref().to_owned();
                if name == "item" && item.is_none() {
                    item = Some(BTreeMap::new());
                } else if item.is_some() && column.is_none() {
                    column = Some((name, String::new()));
                }
            }
            Event::Text(content) => {
                if let Some((_, value)) = &mut column {
                    value.push_str(&content.xml10_content());
                }
            }
            Event::CData(content) => {
                if let Some((_, value)) = &mut column {
                    value.push_str(&content.xml10_content());
                }
            }
            Event::GeneralRef(reference) => {
                if let Some((_, value)) = &mut column {
                    let written = format!("&{};", reference.xml10_content());
                    let resolved = quick_xml::escape::unescape(&written)
                        .map_err(|error| format!("not readable XML: {error}"))?;
                    value.push_str(&resolved);
                }
            }
            Event::End(end) => {
                let name = end.name().as_ref().to_owned();
                if column.as_ref().is_some_and(|(open, _)| *open == name) {
                    if let (Some((name, value)), Some(record)) = (column.take(), item.as_mut()) {
                        if !header.contains(&name) {
                            header.push(name.clone());
                        }
                        record.insert(name, value.trim().to_owned());
                    }
                } else if name == "item" && column.is_none() {
                    records.extend(item.take());
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if records.is_empty() {
        return Err("no `<item>` elements".to_owned());
    }
    Ok(Table::of_records(header, records))
}

/// Reads a GeoJSON `FeatureCollection` as ODK Collect does for
/// `select_one_from_file`: a row per feature, its `id` (the feature's, else
/// its properties'), its properties as columns (text as is, other values
/// as JSON), and a point's `geometry` as "lat lon 0 0".
pub(super) fn read_geojson(bytes: &[u8]) -> Result<Table, String> {
    use serde_json::Value;
    let document: Value =
        serde_json::from_slice(bytes).map_err(|error| format!("not readable GeoJSON: {error}"))?;
    let features = document
        .get("features")
        .and_then(Value::as_array)
        .ok_or("not a GeoJSON FeatureCollection: no `features` list")?;
    let text = |value: &Value| match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let mut header = vec!["id".to_owned(), "geometry".to_owned()];
    let mut records: Vec<BTreeMap<String, String>> = Vec::new();
    for feature in features {
        let mut record = BTreeMap::new();
        if let Some(properties) = feature.get("properties").and_then(Value::as_object) {
            for (key, value) in properties {
                if !header.contains(key) {
                    header.push(key.clone());
                }
                record.insert(key.clone(), text(value));
            }
        }
        if let Some(id) = feature.get("id").filter(|id| !id.is_null()) {
            record.insert("id".to_owned(), text(id));
        }
        let point = feature
            .get("geometry")
            .filter(|geometry| geometry.get("type").and_then(Value::as_str) == Some("Point"))
            .and_then(|geometry| geometry.get("coordinates"))
            .and_then(Value::as_array);
        if let Some([lon, lat, ..]) = point.map(Vec::as_slice) {
            record.insert(
                "geometry".to_owned(),
                format!("{} {} 0 0", text(lat), text(lon)),
            );
        }
        records.push(record);
    }
    if records.is_empty() {
        return Err("no features".to_owned());
    }
    Ok(Table::of_records(header, records))
}

/// The choices of a table, its `value_column` the names (default `name`)
/// and `label_column` the labels (default `label`, and `label::LANG`).
pub(super) fn table_choices(
    table: &Table,
    file: &str,
    list: &str,
    value_column: &str,
    label_column: &str,
    lists: &mut Lists,
    problems: &mut Vec<Problem>,
) {
    let Some(value_index) = table.header.iter().position(|h| h == value_column) else {
        problems.push(Problem::sheet(
            file,
            &format!("the file has no column `{value_column}` for the choices' names"),
        ));
        return;
    };
    let label_columns: Vec<(usize, String)> = table
        .header
        .iter()
        .enumerate()
        .filter_map(|(index, header)| {
            if header == label_column {
                Some((index, Labels::DEFAULT.to_owned()))
            } else {
                header
                    .strip_prefix(label_column)
                    .and_then(|rest| rest.strip_prefix("::"))
                    .map(|language| (index, language_key(language)))
            }
        })
        .collect();
    for (offset, row) in table.rows.iter().enumerate() {
        let cell = |index: usize| row.get(index).map_or("", String::as_str);
        let name = cell(value_index);
        let mut label: Labels = label_columns
            .iter()
            .filter(|(index, _)| !cell(*index).is_empty())
            .map(|(index, language)| (language.clone(), cell(*index).to_owned()))
            .collect();
        if label.is_empty() {
            label = Labels::plain(name);
        }
        let extra = table
            .header
            .iter()
            .enumerate()
            .filter(|(index, _)| {
                *index != value_index && !label_columns.iter().any(|(i, _)| i == index)
            })
            .filter(|(index, header)| !header.is_empty() && !cell(*index).is_empty())
            .map(|(index, header)| (header.clone(), cell(index).to_owned()))
            .collect();
        let choice = Choice {
            name: name.to_owned(),
            label,
            extra,
        };
        // Row 1 is the header; names may repeat, told apart by columns.
        let place = (file, offset + 1, value_column);
        add(lists, place, list, choice, true, problems);
    }
}

/// A table as rows of column → value, for `pulldata()`.
pub(super) fn table_records(table: &Table) -> Vec<BTreeMap<String, String>> {
    table
        .rows
        .iter()
        .map(|row| {
            table
                .header
                .iter()
                .zip(row)
                .filter(|(header, _)| !header.is_empty())
                .map(|(header, value)| (header.clone(), value.clone()))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_items_read_entities_references_and_cdata_as_xml_has_them() {
        let xml = "<?xml version=\"1.0\"?>\n<root><item><name>a</name><label><![CDATA[A & <b>]]></label></item>\
                   <!-- a comment --><item><name>caf&#233;</name><label>B &amp; C</label><town>鲁甸</town></item></root>";
        let table = read_xml(xml.as_bytes()).expect("readable");
        assert_eq!(table.header, ["name", "label", "town"]);
        assert_eq!(
            table.rows,
            [["a", "A & <b>", ""], ["café", "B & C", "鲁甸"]]
        );
        for broken in [
            "<root><item><name>a</name></root>",
            "<root></root>",
            "plain text",
        ] {
            assert!(read_xml(broken.as_bytes()).is_err(), "{broken}");
        }
    }
}
