//! `doorstep device visit … --file QUESTION=PATH`: keeps each file in the
//! device's store and puts its reference in the answers. Inside a repeat
//! the question is named by its path, items counted from 1 as in XLSForm:
//! `members[2]/photo=card.jpg`.

use std::path::Path;

use anyhow::{Context, bail};
use doorstep_core::Store;
use doorstep_protocol::Answers;
use serde_json::Value;

/// Adds the files of `specs` (`QUESTION=PATH`) to `store` and writes their
/// references into `answers`. Nothing is written to the answers unless
/// every file was kept.
pub(super) fn attach(store: &Store, answers: &mut Answers, specs: &[String]) -> anyhow::Result<()> {
    let mut placed = Vec::with_capacity(specs.len());
    for spec in specs {
        let Some((question, path)) = spec.split_once('=') else {
            bail!("--file {spec:?}: expected QUESTION=PATH, e.g. house_photo=house.jpg");
        };
        let steps = parse_question(question)
            .with_context(|| format!("--file {spec:?}: bad question path"))?;
        let path = Path::new(path);
        let file = store
            .add_file_from_path(path, media_type(path))
            .with_context(|| format!("--file {question}: {} could not be kept", path.display()))?;
        eprintln!(
            "kept the file for {question}: {} bytes, {}, {}",
            file.size, file.media_type, file.sha256
        );
        placed.push((steps, file.sha256));
    }
    for (steps, reference) in placed {
        place(answers, &steps, reference)?;
    }
    Ok(())
}

/// One step of a question path: a name, and for a repeat the item (from 1).
#[derive(Debug, PartialEq, Eq)]
struct Step {
    name: String,
    item: Option<usize>,
}

fn parse_question(text: &str) -> anyhow::Result<Vec<Step>> {
    let parts: Vec<&str> = text.split('/').collect();
    let mut steps = Vec::with_capacity(parts.len());
    for (position, part) in parts.iter().enumerate() {
        let last = position + 1 == parts.len();
        let (name, item) = match part.split_once('[') {
            Some((name, rest)) => {
                let number = rest
                    .strip_suffix(']')
                    .and_then(|number| number.parse::<usize>().ok())
                    .filter(|number| *number >= 1)
                    .with_context(|| {
                        format!("{part:?}: a repeat's item is a number from 1, as in members[2]")
                    })?;
                (name, Some(number))
            }
            None => (*part, None),
        };
        if name.is_empty() {
            bail!("{text:?}: a question name is missing");
        }
        if last == item.is_some() {
            bail!(
                "{text:?}: every step but the last names a repeat's item (members[2]/photo), the last a question"
            );
        }
        steps.push(Step {
            name: name.to_owned(),
            item,
        });
    }
    Ok(steps)
}

fn place(answers: &mut Answers, steps: &[Step], reference: String) -> anyhow::Result<()> {
    let Some((last, repeats)) = steps.split_last() else {
        bail!("no question named");
    };
    let mut current = answers;
    for step in repeats {
        let item = step.item.unwrap_or(1);
        let items = current
            .get_mut(&step.name)
            .and_then(Value::as_array_mut)
            .with_context(|| {
                format!(
                    "the answers have no repeat {:?}; give its items in --answers first",
                    step.name
                )
            })?;
        let count = items.len();
        current = items
            .get_mut(item - 1)
            .and_then(Value::as_object_mut)
            .with_context(|| {
                format!(
                    "{}[{item}]: the repeat has {count} items in the answers",
                    step.name
                )
            })?;
    }
    current.insert(last.name.clone(), Value::String(reference));
    Ok(())
}

/// The media type a file's extension usually means.
fn media_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .and_then(|extension| extension.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match extension.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "m4a" | "aac" => "audio/mp4",
        "mp3" => "audio/mpeg",
        "amr" => "audio/amr",
        "ogg" | "opus" => "audio/ogg",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        "3gp" => "video/3gpp",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn question_paths_name_repeat_items_from_one() {
        let steps = parse_question("members[2]/photo").expect("path");
        assert_eq!(
            steps,
            vec![
                Step {
                    name: "members".into(),
                    item: Some(2)
                },
                Step {
                    name: "photo".into(),
                    item: None
                }
            ]
        );
        for bad in [
            "",
            "members[0]/photo",
            "members/photo",
            "photo[1]",
            "a[x]/b",
            "/photo",
        ] {
            assert!(parse_question(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn references_land_in_the_named_item() {
        let mut answers = json!({"members": [{"name": "a"}, {"name": "b"}]})
            .as_object()
            .cloned()
            .expect("object");
        let steps = parse_question("members[2]/photo").expect("path");
        place(&mut answers, &steps, "f".repeat(64)).expect("placed");
        assert_eq!(answers["members"][1]["photo"], json!("f".repeat(64)));
        assert!(answers["members"][0].get("photo").is_none());
        let third = parse_question("members[3]/photo").expect("path");
        let error = place(&mut answers, &third, "f".repeat(64)).expect_err("no third item");
        assert!(error.to_string().contains("2 items"), "{error}");
    }
}
