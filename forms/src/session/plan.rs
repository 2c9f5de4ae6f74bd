//! The dependency graph of a form, built once per form: which questions an
//! answer can change, and in which order to bring them up to date.
//!
//! Questions are numbered in form order (depth first, as
//! [`Form::all_questions`] walks them). An edge `a → b` means that `b`'s
//! state can change when `a`'s does:
//!
//! - *propagating* edges: `b`'s `relevant` or `calculation` reads `${a}`,
//!   or `a` is the group or repeat around `b` (a question inside a group
//!   that does not apply does not apply either). What `b` gives others
//!   changes with it, so the change travels on;
//! - *leaf* edges: `b`'s `constraint`, `required`, `choice_filter` or
//!   `repeat_count` reads `${a}`. Only `b`'s own violations, required
//!   state or choices change (a count that changes resizes the repeat,
//!   after which the session is evaluated whole).
//!
//! A changed answer refreshes every question reachable over propagating
//! edges, in a topological order of those edges, and recomputes what those
//! and their leaf dependents show. A form whose propagating edges have a
//! cycle (XLSForm forbids them; the engine tolerates them with a fixed
//! point) is marked `cyclic` and evaluated whole after each change.

use std::collections::{BTreeSet, HashMap, VecDeque};

use crate::{Form, Question};

/// What one changed question touches.
#[derive(Debug, Clone, Default)]
pub(crate) struct Affected {
    /// Questions to refresh, in dependency order.
    pub(crate) refresh: Vec<usize>,
    /// Questions whose instances may show something else, in form order.
    pub(crate) shown: Vec<usize>,
}

#[derive(Debug)]
pub(crate) struct Plan {
    /// Question numbers by name.
    pub(crate) ids: HashMap<String, usize>,
    /// The group or repeat around each question.
    pub(crate) parent: Vec<Option<usize>>,
    /// Whether the propagating edges have a cycle.
    pub(crate) cyclic: bool,
    /// By question number.
    pub(crate) affected: Vec<Affected>,
}

impl Plan {
    pub(crate) fn new(form: &Form) -> Plan {
        let questions: Vec<&Question> = form.all_questions().collect();
        let count = questions.len();
        let mut ids = HashMap::with_capacity(count);
        for (id, question) in questions.iter().enumerate() {
            ids.entry(question.name.clone()).or_insert(id);
        }
        let mut parent = vec![None; count];
        number_parents(&form.questions, None, &mut 0, &mut parent);

        let mut propagating: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); count];
        let mut leaf: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); count];
        for (id, question) in questions.iter().enumerate() {
            for (column, expression) in question.expressions() {
                let edges = match column {
                    "relevant" | "calculation" => &mut propagating,
                    _ => &mut leaf,
                };
                for name in expression.references() {
                    if let Some(&source) = ids.get(name) {
                        edges[source].insert(id);
                    }
                }
            }
            if let Some(container) = parent[id] {
                propagating[container].insert(id);
            }
        }

        let (rank, cyclic) = topological_rank(&propagating);
        let affected = (0..count)
            .map(|id| {
                let mut reached = BTreeSet::from([id]);
                let mut queue = VecDeque::from([id]);
                while let Some(next) = queue.pop_front() {
                    for &dependent in &propagating[next] {
                        if reached.insert(dependent) {
                            queue.push_back(dependent);
                        }
                    }
                }
                let mut shown = reached.clone();
                for &source in &reached {
                    shown.extend(leaf[source].iter().copied());
                }
                let mut refresh: Vec<usize> = reached.into_iter().collect();
                refresh.sort_by_key(|&id| rank[id]);
                Affected {
                    refresh,
                    shown: shown.into_iter().collect(),
                }
            })
            .collect();
        Plan {
            ids,
            parent,
            cyclic,
            affected,
        }
    }
}

impl Plan {
    /// The groups and repeats around question number `id`, innermost
    /// first.
    pub(crate) fn parent_chain(&self, id: usize) -> impl Iterator<Item = usize> + '_ {
        std::iter::successors(self.parent[id], |&above| self.parent[above])
    }
}

/// Numbers the parents as [`Form::all_questions`] numbers the questions.
fn number_parents(
    questions: &[Question],
    container: Option<usize>,
    next: &mut usize,
    parent: &mut [Option<usize>],
) {
    for question in questions {
        let id = *next;
        *next += 1;
        parent[id] = container;
        number_parents(&question.children, Some(id), next, parent);
    }
}

/// Each question's place in a topological order of `edges` (Kahn's, ties
/// in form order), and whether there is a cycle; questions on a cycle come
/// last, in form order.
fn topological_rank(edges: &[BTreeSet<usize>]) -> (Vec<usize>, bool) {
    let count = edges.len();
    let mut incoming = vec![0usize; count];
    for targets in edges {
        for &target in targets {
            incoming[target] += 1;
        }
    }
    let mut ready: BTreeSet<usize> = (0..count).filter(|&id| incoming[id] == 0).collect();
    let mut rank = vec![usize::MAX; count];
    let mut next = 0;
    while let Some(id) = ready.pop_first() {
        rank[id] = next;
        next += 1;
        for &target in &edges[id] {
            incoming[target] -= 1;
            if incoming[target] == 0 {
                ready.insert(target);
            }
        }
    }
    let cyclic = next < count;
    for slot in rank.iter_mut().filter(|slot| **slot == usize::MAX) {
        *slot = next;
        next += 1;
    }
    (rank, cyclic)
}
