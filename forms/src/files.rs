//! Which answers of a visit name files (ADR 0011): the same rule on the
//! phone (a visit is finalised only when its files are there) and on the
//! server (a file is taken only from a device one of whose visits names
//! it; a visit shows its files as pending until they arrive).

use serde_json::{Map, Value};

use crate::{Form, Question, QuestionKind};

impl Form {
    /// The non-empty answers of this form's file questions (photo, audio,
    /// video, file; a signature is a photo) in `answers`, repeats included,
    /// each once, sorted. What they hold is not checked here: see
    /// `doorstep_protocol::is_file_reference`.
    pub fn named_files(&self, answers: &Map<String, Value>) -> Vec<String> {
        let mut named = Vec::new();
        collect(&self.questions, answers, &mut named);
        named.sort_unstable();
        named.dedup();
        named
    }
}

fn collect(questions: &[Question], answers: &Map<String, Value>, out: &mut Vec<String>) {
    for question in questions {
        match &question.kind {
            QuestionKind::Group => collect(&question.children, answers, out),
            QuestionKind::Repeat => {
                for item in answers
                    .get(&question.name)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_object)
                {
                    collect(&question.children, item, out);
                }
            }
            QuestionKind::Photo
            | QuestionKind::Audio
            | QuestionKind::Video
            | QuestionKind::File => {
                if let Some(value) = answers.get(&question.name).and_then(Value::as_str)
                    && !value.is_empty()
                {
                    out.push(value.to_owned());
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::Form;

    #[test]
    fn file_answers_are_found_in_groups_and_repeats_once_each() {
        let form: Form = serde_json::from_value(json!({
            "form_id": "f", "version": "1", "title": "t",
            "questions": [
                {"name": "house", "kind": {"type": "photo"}},
                {"name": "note", "kind": {"type": "text"}},
                {"name": "g", "kind": {"type": "group"}, "children": [{"name": "card", "kind": {"type": "file"}}]},
                {"name": "members", "kind": {"type": "repeat"}, "children": [
                    {"name": "voice", "kind": {"type": "audio"}},
                    {"name": "name", "kind": {"type": "text"}}
                ]}
            ]
        }))
        .expect("form");
        let answers = json!({
            "house": "b".repeat(64),
            "note": "a".repeat(64),
            "card": "",
            "members": [{"voice": "c".repeat(64), "name": "x"}, {"voice": "b".repeat(64)}, {}]
        });
        let named = form.named_files(answers.as_object().expect("object"));
        assert_eq!(named, vec!["b".repeat(64), "c".repeat(64)]);
    }
}
