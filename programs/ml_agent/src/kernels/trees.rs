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

/// Leaf row reached by the tree rooted at `root`.
///
/// # Safety
/// `x` must point to `n_features` readable values.
#[inline(always)]
unsafe fn find_leaf(
    nodes: &[Node],
    root: u32,
    x: *const i64,
    n_features: usize,
    max_depth: u32,
) -> Result<u32, ExecError> {
    let n_nodes = nodes.len();
    let base = nodes.as_ptr();
    let mut node = root as usize;
    let mut moves = max_depth;
    loop {
        if node >= n_nodes {
            return Err(ExecError::Model(Why::TreeNode));
        }
        let p = &*base.add(node);
        let f = p.feature as usize;
        if f >= n_features {
            if p.feature != LEAF {
                return Err(ExecError::Model(Why::TreeFeature));
            }
            return Ok(p.left);
        }
        if moves == 0 {
            return Err(ExecError::Model(Why::TreeDepth));
        }
        moves -= 1;
        node = if *x.add(f) <= p.threshold as i64 {
            p.left
        } else {
            p.right
        } as usize;
    }
}

/// Run every tree on the raw features `x` and write the `out.len()` outputs.
#[inline(never)]
pub fn run_trees(t: &Trees, x: &[i64], out: &mut [i64]) -> Result<(), ExecError> {
    let n_out = out.len();
    let n_features = x.len();
    let xp = x.as_ptr();
    match t.mode {
        TreeMode::Proba => {
            out.fill(0);
            let n_leaves = t.leaves.len() / n_out;
            for root in t.roots {
                // SAFETY: x holds n_features values.
                let row = unsafe { find_leaf(t.nodes, *root, xp, n_features, t.max_depth)? };
                if row as usize >= n_leaves {
                    return Err(ExecError::Model(Why::TreeLeaf));
                }
                let probs = &t.leaves[row as usize * n_out..][..n_out];
                for (o, p) in out.iter_mut().zip(probs) {
                    *o += *p as i64;
                }
            }
        }
        TreeMode::Value => {
            if t.base.len() != n_out {
                return Err(ExecError::Model(Why::TreesParams));
            }
            for (o, b) in out.iter_mut().zip(t.base) {
                *o = *b as i64;
            }
            let n_leaves = t.leaves.len();
            let mut k = 0usize;
            for root in t.roots {
                // SAFETY: x holds n_features values.
                let row = unsafe { find_leaf(t.nodes, *root, xp, n_features, t.max_depth)? };
                if row as usize >= n_leaves {
                    return Err(ExecError::Model(Why::TreeLeaf));
                }
                let v = t.leaves[row as usize] as i32 as i64;
                out[k] = out[k].wrapping_add(v);
                k += 1;
                if k == n_out {
                    k = 0;
                }
            }
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
        run_trees(&t, &[10], &mut out).unwrap();
        assert_eq!(out, [1005, 2100]);
        run_trees(&t, &[11], &mut out).unwrap();
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
        run_trees(&t, &[0, -4], &mut out).unwrap();
        assert_eq!(out, [131072, 0]);
        run_trees(&t, &[0, -3], &mut out).unwrap();
        assert_eq!(out, [131072, 0]);
        run_trees(&t, &[0, -2], &mut out).unwrap();
        assert_eq!(out, [32768, 98304]);

        t.max_depth = 0;
        assert!(run_trees(&t, &[0, 0], &mut out).is_err());
        let cyclic = [node(0, 0, 0, 0)];
        t.nodes = &cyclic;
        t.max_depth = 40;
        assert!(run_trees(&t, &[0, 0], &mut out).is_err());
        let wild = [node(0, 0, 9, 9)];
        t.nodes = &wild;
        assert!(run_trees(&t, &[0, 0], &mut out).is_err());
        let bad_leaf = [leaf(2)];
        t.nodes = &bad_leaf;
        assert!(run_trees(&t, &[0, 0], &mut out).is_err());
    }
}
