// File: hfreduce/tree.cc — double binary tree arithmetic; see tree.h.
#include "hfreduce/tree.h"

#include "absl/strings/str_cat.h"

namespace hs::hfreduce {
namespace {

// Lowest set bit of p (p > 0).
int LowBit(int p) { return p & -p; }

// Children of in-order position p in a tree over positions 1..n.
void ChildPositions(int n, int p, int out[2]) {
  out[0] = out[1] = -1;
  int half = LowBit(p) >> 1;
  if (half == 0) return;  // odd position: a leaf
  out[0] = p - half;      // the left subtree is always complete
  // The right child is the highest level position inside (p, n].
  for (int step = half; step > 0; step >>= 1) {
    if (p + step <= n) {
      out[1] = p + step;
      break;
    }
  }
}

// Parent of in-order position p, or -1 for the root. A linear scan over
// the candidates: trees are built once at init and n is the node count.
int ParentPosition(int n, int p) {
  for (int cand = 1; cand <= n; ++cand) {
    int ch[2];
    ChildPositions(n, cand, ch);
    if (ch[0] == p || ch[1] == p) return cand;
  }
  return -1;
}

// Maps a node index of tree 1 onto the tree-0 label it plays.
int ToTree0Label(int n, int node) {
  return (n % 2 == 0) ? n - 1 - node : (node + 1) % n;
}

// Inverse of ToTree0Label.
int FromTree0Label(int n, int label) {
  return (n % 2 == 0) ? n - 1 - label : (label + n - 1) % n;
}

}  // namespace

TreeLinks BinaryTreeLinks(int n, int node) {
  TreeLinks links;
  if (n <= 1 || node < 0 || node >= n) return links;
  int p = node + 1;
  int parent = ParentPosition(n, p);
  links.parent = parent < 0 ? -1 : parent - 1;
  int ch[2];
  ChildPositions(n, p, ch);
  int k = 0;
  for (int c : ch) {
    if (c > 0) links.children[k++] = c - 1;
  }
  return links;
}

TreeLinks DoubleTreeLinks(int n, int node, int tree) {
  if (tree == 0) return BinaryTreeLinks(n, node);
  TreeLinks t0 = BinaryTreeLinks(n, ToTree0Label(n, node));
  TreeLinks links;
  if (t0.parent >= 0) links.parent = FromTree0Label(n, t0.parent);
  for (int i = 0; i < 2; ++i) {
    if (t0.children[i] >= 0) links.children[i] = FromTree0Label(n, t0.children[i]);
  }
  return links;
}

int TreeRoot(int n, int tree) {
  if (n <= 0) return -1;
  int p = 1;
  while (p * 2 <= n) p *= 2;
  int root0 = p - 1;
  return tree == 0 ? root0 : FromTree0Label(n, root0);
}

std::string DescribeTree(int n, int tree) {
  std::string out;
  for (int r = 0; r < n; ++r) {
    TreeLinks t = DoubleTreeLinks(n, r, tree);
    absl::StrAppend(&out, "Tree ", tree, " : ", t.parent, " -> ", r, " -> ",
                    t.children[0], "/", t.children[1], "\n");
  }
  return out;
}

}  // namespace hs::hfreduce
