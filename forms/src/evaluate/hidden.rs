//! The questions that do not apply, by path (`members[2]/school`), with a
//! filter of their names: asking about a question none of whose instances
//! is hidden spells out no path and hashes no string of it. Most
//! questions of a visit apply, and every pass asks about each of them.

use foldhash::HashSet;

use super::path;

#[derive(Debug, Clone, Default)]
pub(crate) struct Hidden {
    paths: HashSet<String>,
    /// The names of questions with a hidden instance. A name may stay
    /// after its last path went (the session shows a question again):
    /// that costs one spelt path, never a wrong answer.
    names: HashSet<String>,
}

impl PartialEq for Hidden {
    fn eq(&self, other: &Hidden) -> bool {
        self.paths == other.paths
    }
}

impl Hidden {
    pub(crate) fn insert(&mut self, path: String) {
        let name = path.rsplit('/').next().unwrap_or(&path);
        if !self.names.contains(name) {
            self.names.insert(name.to_owned());
        }
        self.paths.insert(path);
    }

    pub(crate) fn remove(&mut self, path: &str) {
        self.paths.remove(path);
    }

    /// Whether some instance of the question `name` may be hidden: when
    /// not, none is.
    pub(crate) fn may_hide(&self, name: &str) -> bool {
        !self.paths.is_empty() && self.names.contains(name)
    }

    /// Whether the question at this path is hidden.
    pub(crate) fn contains(&self, path: &str) -> bool {
        self.paths.contains(path)
    }

    /// Whether the question `name` inside `frame` is hidden.
    pub(crate) fn at(&self, frame: &[(&str, usize)], name: &str) -> bool {
        self.may_hide(name) && self.paths.contains(&path(frame, name))
    }

    pub(crate) fn paths(&self) -> impl Iterator<Item = &String> {
        self.paths.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_filters_but_the_path_decides() {
        let mut hidden = Hidden::default();
        assert!(!hidden.at(&[], "school"));
        hidden.insert("members[2]/school".into());
        assert!(hidden.may_hide("school"));
        assert!(!hidden.may_hide("age"));
        assert!(hidden.at(&[("members", 1)], "school"));
        assert!(!hidden.at(&[("members", 0)], "school"));
        assert!(!hidden.at(&[], "school"));
        hidden.insert("relocated_year".into());
        assert!(hidden.at(&[], "relocated_year"));
        // Shown again: the name stays in the filter, the answer is right.
        hidden.remove("members[2]/school");
        assert!(!hidden.at(&[("members", 1)], "school"));
        let mut other = Hidden::default();
        other.insert("relocated_year".into());
        assert_eq!(hidden, other);
    }
}
