//! What the core fills in itself: repeats sized by their `repeat_count`,
//! and the metadata questions (`start`, `end`, `today`, `deviceid`…) the
//! cadre never answers.

use std::sync::Arc;

use chrono::{DateTime, FixedOffset};
use serde_json::{Value as Json, json};

use super::tree::level_mut;
use super::{Changes, FormSession};
use crate::evaluate::Engine;
use crate::{Metadata, Question, QuestionKind};

/// The most items a `repeat_count` can ask for: a count beyond it (a typo,
/// a phone number in the wrong question) is cut to it.
pub const MAX_COUNTED_ITEMS: usize = 500;

/// What the device knows for a form's metadata questions.
#[derive(Debug, Clone)]
pub struct Stamp {
    /// Now, with the device's offset from UTC.
    pub now: DateTime<FixedOffset>,
    pub device_id: Option<String>,
    /// The cadre's name (`username`).
    pub username: Option<String>,
    pub phone_number: Option<String>,
    pub email: Option<String>,
}

impl FormSession {
    /// Fills the metadata a visit starts with (`start`, `today`,
    /// `deviceid`, `username`, `phonenumber`, `email`) where it has no
    /// value yet: a draft taken up again keeps its `start`. Metadata the
    /// device does not know (`subscriberid`, `simserial`, `audit`,
    /// `start-geopoint`) stays empty.
    pub fn stamp_start(&mut self, stamp: &Stamp) -> Changes {
        self.stamp(
            |metadata| match metadata {
                Metadata::Start => Some(json!(stamp.now.to_rfc3339())),
                Metadata::Today => {
                    Some(json!(stamp.now.date_naive().format("%Y-%m-%d").to_string()))
                }
                Metadata::DeviceId => stamp.device_id.as_ref().map(|id| json!(id)),
                Metadata::Username => stamp.username.as_ref().map(|name| json!(name)),
                Metadata::PhoneNumber => stamp.phone_number.as_ref().map(|phone| json!(phone)),
                Metadata::Email => stamp.email.as_ref().map(|email| json!(email)),
                _ => None,
            },
            false,
        )
    }

    /// Sets `end` to `now`, as the visit is finalised.
    pub fn stamp_end(&mut self, now: DateTime<FixedOffset>) -> Changes {
        self.stamp(
            |metadata| (metadata == Metadata::End).then(|| json!(now.to_rfc3339())),
            true,
        )
    }

    /// Writes `value_of` each metadata question outside repeats, where it
    /// has none (or always, with `overwrite`).
    fn stamp(&mut self, value_of: impl Fn(Metadata) -> Option<Json>, overwrite: bool) -> Changes {
        let form = Arc::clone(&self.form);
        let mut changes = Changes::default();
        for (id, question) in form.all_questions().enumerate() {
            let QuestionKind::Metadata(metadata) = question.kind else {
                continue;
            };
            let Some(value) = value_of(metadata) else {
                continue;
            };
            let inside_repeat = self.plan.parent_chain(id).any(|parent| {
                form.all_questions()
                    .nth(parent)
                    .is_some_and(|q| q.kind == QuestionKind::Repeat)
            });
            let present = self
                .answers
                .get(&question.name)
                .is_some_and(|v| !v.is_null());
            if inside_repeat || (present && !overwrite) {
                continue;
            }
            if let Some(written) = self.write(&form, &[], question, id, Some(value)) {
                changes.merge(written);
            }
        }
        changes
    }

    /// Sizes every repeat that has a `repeat_count` to its count (at most
    /// [`MAX_COUNTED_ITEMS`]), adding empty items or dropping the last;
    /// returns whether any changed. Counts inside new items are settled
    /// by going round again.
    pub(super) fn fit_counts(&mut self) -> bool {
        let form = Arc::clone(&self.form);
        let counted: Vec<&Question> = form
            .all_questions()
            .filter(|question| {
                question.kind == QuestionKind::Repeat && question.repeat_count.is_some()
            })
            .collect();
        if counted.is_empty() {
            return false;
        }
        let mut resized = false;
        for _ in 0..=counted.len() {
            let engine = Engine::start(&form, &self.answers, self.today);
            let mut sizes = Vec::new();
            for repeat in &counted {
                let Some(count) = &repeat.repeat_count else {
                    continue;
                };
                for frame in engine.frames(&repeat.name) {
                    let wanted = count.evaluate(&engine.scope_at(&frame)).as_number();
                    let wanted = if wanted.is_finite() && wanted > 0.0 {
                        (wanted.floor() as usize).min(MAX_COUNTED_ITEMS)
                    } else {
                        0
                    };
                    if engine.item_count(&frame, &repeat.name) != wanted {
                        let frame: Vec<(String, usize)> = frame
                            .iter()
                            .map(|(name, item)| ((*name).to_owned(), *item))
                            .collect();
                        sizes.push((frame, repeat.name.clone(), wanted));
                    }
                }
            }
            drop(engine);
            if sizes.is_empty() {
                break;
            }
            resized = true;
            for (frame, name, wanted) in sizes {
                let frame: Vec<(&str, usize)> = frame
                    .iter()
                    .map(|(name, item)| (name.as_str(), *item))
                    .collect();
                for map in [&mut self.answers, &mut self.live.values] {
                    let Some(level) = level_mut(map, &frame) else {
                        continue;
                    };
                    let items = level
                        .entry(name.clone())
                        .or_insert_with(|| Json::Array(Vec::new()));
                    if !items.is_array() {
                        *items = Json::Array(Vec::new());
                    }
                    if let Json::Array(items) = items {
                        items.resize_with(wanted, || Json::Object(Default::default()));
                    }
                }
            }
        }
        resized
    }
}
