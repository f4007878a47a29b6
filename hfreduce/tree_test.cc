// File: hfreduce/tree_test.cc — checks both trees of the double binary tree
// for every node count n <= 64: each is a valid spanning tree, and they are
// complementary (no node is an inner node in both).
#include "hfreduce/tree.h"

#include <vector>

#include "gtest/gtest.h"

namespace hs::hfreduce {
namespace {

// Checks that the links of all n nodes in `tree` form one rooted spanning
// tree with at most two children per node; returns each node's depth.
std::vector<int> CheckTree(int n, int tree) {
  std::vector<TreeLinks> links(n);
  for (int r = 0; r < n; ++r) links[r] = DoubleTreeLinks(n, r, tree);
  int roots = 0;
  for (int r = 0; r < n; ++r) {
    const TreeLinks& t = links[r];
    if (t.parent < 0) {
      ++roots;
      EXPECT_EQ(r, TreeRoot(n, tree)) << "n=" << n << " tree=" << tree;
    } else {
      EXPECT_LT(t.parent, n);
      EXPECT_NE(t.parent, r);
      const TreeLinks& p = links[t.parent];
      EXPECT_TRUE(p.children[0] == r || p.children[1] == r)
          << "n=" << n << " tree=" << tree << " node " << r
          << " not a child of its parent " << t.parent;
    }
    // Set children come first and each names this node as its parent.
    if (t.children[0] < 0) EXPECT_LT(t.children[1], 0);
    EXPECT_NE(t.children[0], r);
    if (t.children[1] >= 0) EXPECT_NE(t.children[0], t.children[1]);
    for (int c : t.children) {
      if (c < 0) continue;
      EXPECT_LT(c, n);
      EXPECT_EQ(links[c].parent, r) << "n=" << n << " tree=" << tree;
    }
  }
  EXPECT_EQ(roots, 1) << "n=" << n << " tree=" << tree;
  // Every node reaches the root (no cycles): walk up at most n steps.
  std::vector<int> depth(n, 0);
  for (int r = 0; r < n; ++r) {
    int cur = r, steps = 0;
    while (links[cur].parent >= 0 && steps <= n) {
      cur = links[cur].parent;
      ++steps;
    }
    EXPECT_EQ(cur, TreeRoot(n, tree)) << "n=" << n << " node " << r;
    depth[r] = steps;
  }
  return depth;
}

TEST(TreeTest, BothTreesValidAndComplementaryUpTo64) {
  for (int n = 1; n <= 64; ++n) {
    std::vector<int> d0 = CheckTree(n, 0);
    std::vector<int> d1 = CheckTree(n, 1);
    int log2n = 0;
    while ((1 << log2n) < n) ++log2n;
    for (int r = 0; r < n; ++r) {
      // Balanced: depth is logarithmic.
      EXPECT_LE(d0[r], log2n) << "n=" << n;
      EXPECT_LE(d1[r], log2n) << "n=" << n;
      bool inner0 = DoubleTreeLinks(n, r, 0).num_children() > 0;
      bool inner1 = DoubleTreeLinks(n, r, 1).num_children() > 0;
      EXPECT_FALSE(inner0 && inner1)
          << "node " << r << " is inner in both trees, n=" << n;
    }
  }
}

TEST(TreeTest, TwelveNodesMatchesDiagram) {
  // The picture in tree.h.
  TreeLinks root = BinaryTreeLinks(12, 7);
  EXPECT_EQ(root.parent, -1);
  EXPECT_EQ(root.children[0], 3);
  EXPECT_EQ(root.children[1], 11);
  TreeLinks n11 = BinaryTreeLinks(12, 11);
  EXPECT_EQ(n11.parent, 7);
  EXPECT_EQ(n11.children[0], 9);
  EXPECT_EQ(n11.children[1], -1);
  TreeLinks n9 = BinaryTreeLinks(12, 9);
  EXPECT_EQ(n9.children[0], 8);
  EXPECT_EQ(n9.children[1], 10);
  EXPECT_EQ(BinaryTreeLinks(12, 0).num_children(), 0);
}

TEST(TreeTest, SecondTreeIsMirrorOrShift) {
  // Even n: mirrored; node n-1-r of tree 1 plays r's role of tree 0.
  EXPECT_EQ(TreeRoot(8, 0), 7);
  EXPECT_EQ(TreeRoot(8, 1), 0);
  // Odd n: shifted by one.
  EXPECT_EQ(TreeRoot(5, 0), 3);
  EXPECT_EQ(TreeRoot(5, 1), 2);
  EXPECT_EQ(DoubleTreeLinks(1, 0, 1).parent, -1);
  EXPECT_FALSE(DescribeTree(4, 1).empty());
}

}  // namespace
}  // namespace hs::hfreduce
