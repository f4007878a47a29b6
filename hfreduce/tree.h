// File: hfreduce/tree.h
//
// The double binary tree HFReduce uses between nodes (pure arithmetic, no
// communication). Reference: Sanders, Speck, Träff, "Two-tree algorithms for
// full bandwidth broadcast, reduction and scan" (2009); the same idea as
// NCCL's double binary tree.
//
// Tree 0 is the in-order binary tree over the node indices: node r sits at
// in-order position p = r + 1, its level is the number of trailing zero bits
// of p, the root is the largest power of two <= n, leaves are the odd
// positions (even node indices) and inner nodes the even positions (odd node
// indices). For n = 12 (node index = position - 1):
//
//                         7                       level 3 (p = 8)
//                 /               \               |
//               3                   11            level 2 (p = 4, 12)
//           /       \             /               |
//         1           5         9                 level 1
//       /   \       /   \     /   \               |
//      0     2     4     6   8    10              level 0 (leaves)
//
// A node whose right child would be past n takes the nearest existing
// position below it instead (11 has no right child, 9 keeps 10).
//
// Tree 1 is tree 0 relabelled: mirrored (r -> n-1-r) when n is even, shifted
// (r -> (r+1) mod n) when n is odd. Either way the inner nodes of one tree
// are leaves of the other, so every node sends and receives each byte at most
// about once per direction when each tree carries half of the data.
//
// Usage:
//   TreeLinks t = DoubleTreeLinks(n_nodes, my_node, /*tree=*/0);
//   if (t.parent >= 0) ... send up to t.parent; children in t.children[0..1]
#ifndef HFREDUCE_TREE_H_
#define HFREDUCE_TREE_H_

#include <string>
#include <vector>

namespace hs::hfreduce {

// One node's links in one tree: -1 means "none".
struct TreeLinks {
  int parent = -1;
  int children[2] = {-1, -1};

  // num_children(): how many of children[] are set (set ones come first).
  int num_children() const { return (children[0] >= 0) + (children[1] >= 0); }
};

// BinaryTreeLinks(n, node)
//
// The links of `node` (0 <= node < n) in the in-order binary tree (tree 0).
TreeLinks BinaryTreeLinks(int n, int node);

// DoubleTreeLinks(n, node, tree)
//
// The links of `node` in tree 0 or tree 1 of the double binary tree.
TreeLinks DoubleTreeLinks(int n, int node, int tree);

// TreeRoot(n, tree): the node index of the root of tree 0 or 1.
int TreeRoot(int n, int tree);

// DescribeTree(n, tree)
//
// One line per node, "Tree t : parent -> node -> child0/child1", as logged
// at init with HS_DEBUG=INFO.
std::string DescribeTree(int n, int tree);

}  // namespace hs::hfreduce

#endif  // HFREDUCE_TREE_H_
