//! Decision trees and ensembles (random forests, gradient boosting) over raw Q16.16 features.
//!
//! Nodes are 16-byte records (threshold, feature, left, right); a node whose feature is `LEAF`
//! holds its leaf-table row in `left`. Go left iff `x[feature] <= threshold`. The model bytes are
//! not trusted structurally, and validating every node on every call would cost more than the
//! walk itself, so the walk checks what it touches: node indices against the node count, feature
//! ids against the feature count, leaf rows against the leaf count, and the number of steps
//! against the declared maximum depth (which also bounds the loop).

use super::{ExecError, Why};

/// Feature id marking a leaf.
pub const LEAF: u16 = 0xFFFF;

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Node {
    pub threshold: i32,
    pub feature: u16,
    pub reserved: u16,
    /// Child index, or the leaf-table row for a leaf.
    pub left: u32,
    pub right: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TreeMode {
    /// Leaves are rows of `n_out` u32 Q16 class probabilities, summed over the trees.
    Proba,
    /// Leaves hold one i32; tree `t` adds to output `t mod n_out`, on top of `base`.
    Value,
}

pub struct Trees<'a> {
    pub mode: TreeMode,
    pub max_depth: u32,
    /// First node of each tree.
    pub roots: &'a [u32],
    pub nodes: &'a [Node],
    /// Proba: `n_leaves * n_out` u32; Value: `n_leaves` i32 stored as u32.
    pub leaves: &'a [u32],
    /// Value only: `n_out` i32 start values.
    pub base: &'a [i32],
}

/// A tree walk's operands: one register argument for the out-of-line walk, which then holds
/// them all in registers (inside `run_trees` they were reloaded from the stack every step).
struct Walk {
    nodes: *const Node,
    n_nodes: usize,
    xs: *const i64,
    n_features: usize,
    max_depth: usize,
}

/// Leaf row reached by the tree rooted at `root`, or `usize::MAX` when the structure is bad
/// (the caller reports it; keeping error values out of the loop keeps it in registers).
///
/// `xs` holds the features shifted into the high half (`x << 32`): a zero-extending 32-bit load
/// of the threshold shifted the same way compares correctly in one instruction where a sign
/// extension takes two.
///
/// # Safety
/// `nodes` must point to `n_nodes` nodes and `xs` to `n_features` values.
#[inline(always)]
unsafe fn find_leaf(w: &Walk, root: usize) -> usize {
    let (nodes, n_nodes, xs, n_features) = (w.nodes, w.n_nodes, w.xs, w.n_features);
    let mut node = root;
    let mut moves = w.max_depth;
    loop {
        if node >= n_nodes {
            return usize::MAX;
        }
        let p = &*nodes.add(node);
        let f = p.feature as usize;
        if f >= n_features {
            return if p.feature == LEAF {
                p.left as usize
            } else {
                usize::MAX
            };
        }
        if moves == 0 {
            return usize::MAX;
        }
        moves -= 1;
        let t = ((p.threshold as u32 as u64) << 32) as i64;
        node = if *xs.add(f) <= t { p.left } else { p.right } as usize;
    }
}

/// `find_leaf` out of line (PROBA forests: the row sums leave no registers for the walk).
///
/// # Safety
/// As `find_leaf`.
#[inline(never)]
unsafe fn find_leaf_ool(w: &Walk, root: usize) -> usize {
    find_leaf(w, root)
}

/// Why a walk failed: the slow path, run by the caller only after `run_trees` failed, so the
/// hot loop carries no diagnostic state. (Not `#[cold]`: sbpf-linker 0.1.9 leaves calls into
/// `.text.unlikely` unresolved, `call -1`, which the VM rejects as an unsupported instruction.)
#[inline(never)]
pub fn diagnose(t: &Trees, xs: &[i64], n_out: usize) -> ExecError {
    let n_leaves = match t.mode {
        TreeMode::Proba => t.leaves.len() / n_out.max(1),
        TreeMode::Value => t.leaves.len(),
    };
    for root in t.roots {
        let mut node = *root as usize;
        let mut moves = t.max_depth;
        let why = loop {
            let Some(p) = t.nodes.get(node) else {
                break Some(Why::TreeNode);
            };
            let f = p.feature as usize;
            if f >= xs.len() {
                if p.feature != LEAF {
                    break Some(Why::TreeFeature);
                }
                break if (p.left as usize) < n_leaves {
                    None
                } else {
                    Some(Why::TreeLeaf)
                };
            }
            if moves == 0 {
                break Some(Why::TreeDepth);
            }
            moves -= 1;
            let t = ((p.threshold as u32 as u64) << 32) as i64;
            node = if xs[f] <= t { p.left } else { p.right } as usize;
        };
        if let Some(why) = why {
            return ExecError::Model(why);
        }
    }
    ExecError::Model(Why::TreesParams)
}

/// Run every tree on the features and write the `out.len()` outputs. `xs` holds the raw Q16.16
/// features shifted left by 32 (see `find_leaf`). A bad structure fails with a generic reason;
/// `diagnose` names the real one.
#[inline(never)]
pub fn run_trees(t: &Trees, xs: &[i64], out: &mut [i64]) -> Result<(), ExecError> {
    let walk = Walk {
        nodes: t.nodes.as_ptr(),
        n_nodes: t.nodes.len(),
        xs: xs.as_ptr(),
        n_features: xs.len(),
        max_depth: t.max_depth as usize,
    };
    // One out-of-line function per mode: each gets its own register allocation (sharing one
    // cost the VALUE walk its registers).
    match t.mode {
        TreeMode::Proba => run_proba(t, &walk, out),
        TreeMode::Value => run_value(t, &walk, out),
    }
}

/// PROBA: the leaf rows summed over the trees.
#[inline(never)]
fn run_proba(t: &Trees, walk: &Walk, out: &mut [i64]) -> Result<(), ExecError> {
    let n_out = out.len();
    let n_leaves = t.leaves.len() / n_out;
    // The first tree's row is stored, the others added: no zeroing pass.
    let mut first = true;
    for root in t.roots {
        // SAFETY: nodes/xs bound the walk (see find_leaf).
        let row = unsafe { find_leaf_ool(walk, *root as usize) };
        if row >= n_leaves {
            return Err(ExecError::Model(Why::TreeNode));
        }
        let probs = &t.leaves[row * n_out..][..n_out];
        if first {
            for (o, p) in out.iter_mut().zip(probs) {
                *o = *p as i64;
            }
            first = false;
        } else {
            for (o, p) in out.iter_mut().zip(probs) {
                *o += *p as i64;
            }
        }
    }
    if first {
        // No trees. Volatile stores: a plain loop becomes a `memset` call.
        for o in out.iter_mut() {
            // SAFETY: a valid, aligned, writable word.
            unsafe { core::ptr::write_volatile(o, 0) };
        }
    }
    Ok(())
}

/// VALUE: `base`, plus tree `t`'s leaf value added to output `t mod n_out`.
#[inline(never)]
fn run_value(t: &Trees, walk: &Walk, out: &mut [i64]) -> Result<(), ExecError> {
    let n_out = out.len();
    if t.base.len() != n_out {
        return Err(ExecError::Model(Why::TreesParams));
    }
    for (o, b) in out.iter_mut().zip(t.base) {
        *o = *b as i64;
    }
    let n_leaves = t.leaves.len();
    let leaves = t.leaves.as_ptr();
    let op = out.as_mut_ptr();
    let mut k = 0usize;
    for root in t.roots {
        // SAFETY: nodes/xs bound the walk (see find_leaf).
        let row = unsafe { find_leaf(walk, *root as usize) };
        if row >= n_leaves {
            return Err(ExecError::Model(Why::TreeNode));
        }
        // SAFETY: row < n_leaves and k < n_out.
        unsafe {
            let o = op.add(k);
            *o = (*o).wrapping_add(*leaves.add(row) as i32 as i64);
        }
        k += 1;
        if k == n_out {
            k = 0;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(feature: u16, threshold: i32, left: u32, right: u32) -> Node {
        Node {
            threshold,
            feature,
            reserved: 0,
            left,
            right,
        }
    }

    fn sh(x: &[i64]) -> std::vec::Vec<i64> {
        x.iter().map(|v| v << 32).collect()
    }

    fn leaf(row: u32) -> Node {
        node(LEAF, 0, row, 0)
    }

    #[test]
    fn walks_left_on_equal_and_sums_values_round_robin() {
        // Tree 0: x0 <= 10 ? leaf 0 : leaf 1.  Tree 1: leaf 2 (a stump).
        let nodes = [node(0, 10, 1, 2), leaf(0), leaf(1), leaf(2)];
        let leaves = [5u32, (-7i32) as u32, 100];
        let t = Trees {
            mode: TreeMode::Value,
            max_depth: 1,
            roots: &[0, 3],
            nodes: &nodes,
            leaves: &leaves,
            base: &[1000, 2000],
        };
        let mut out = [0i64; 2];
        run_trees(&t, &sh(&[10]), &mut out).unwrap();
        assert_eq!(out, [1005, 2100]);
        run_trees(&t, &sh(&[11]), &mut out).unwrap();
        assert_eq!(out, [993, 2100]);
    }

    #[test]
    fn proba_sums_rows_and_bad_structure_is_an_error() {
        let nodes = [node(1, -3, 1, 2), leaf(0), leaf(1)];
        let leaves = [65536u32, 0, 16384, 49152];
        let mut t = Trees {
            mode: TreeMode::Proba,
            max_depth: 1,
            roots: &[0, 0],
            nodes: &nodes,
            leaves: &leaves,
            base: &[],
        };
        let mut out = [0i64; 2];
        run_trees(&t, &sh(&[0, -4]), &mut out).unwrap();
        assert_eq!(out, [131072, 0]);
        run_trees(&t, &sh(&[0, -3]), &mut out).unwrap();
        assert_eq!(out, [131072, 0]);
        run_trees(&t, &sh(&[0, -2]), &mut out).unwrap();
        assert_eq!(out, [32768, 98304]);

        t.max_depth = 0;
        assert!(run_trees(&t, &sh(&[0, 0]), &mut out).is_err());
        let cyclic = [node(0, 0, 0, 0)];
        t.nodes = &cyclic;
        t.max_depth = 40;
        assert!(run_trees(&t, &sh(&[0, 0]), &mut out).is_err());
        let wild = [node(0, 0, 9, 9)];
        t.nodes = &wild;
        assert!(run_trees(&t, &sh(&[0, 0]), &mut out).is_err());
        let bad_leaf = [leaf(2)];
        t.nodes = &bad_leaf;
        assert!(run_trees(&t, &sh(&[0, 0]), &mut out).is_err());
    }
}
