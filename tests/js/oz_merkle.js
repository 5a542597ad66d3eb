// OpenZeppelin's @openzeppelin/merkle-tree as an oracle for olab's Python Merkle trees.
// Reads one JSON request on stdin and writes one JSON answer on stdout:
//   request:  { encoding, values, proofs?: [{ value, proof }], root?, dump? }
//   answer:   { root, proofs: [OZ proof of value i], treeIndex: [..],        (tree OZ builds from `values`)
//               verified: [StandardMerkleTree.verify(root, encoding, value, proof) for each given proof],
//               loaded: { root, values } | { error }                          (StandardMerkleTree.load(dump)) }
const { StandardMerkleTree } = require('@openzeppelin/merkle-tree');

let input = '';
process.stdin.on('data', (chunk) => (input += chunk));
process.stdin.on('end', () => {
  const req = JSON.parse(input);
  const out = {};
  if (req.values && req.values.length) {
    const tree = StandardMerkleTree.of(req.values, req.encoding);
    out.root = tree.root;
    out.proofs = req.values.map((_, i) => tree.getProof(i));
    out.treeIndex = tree.dump().values.map((v) => v.treeIndex);
  }
  if (req.proofs) {
    const root = req.root || out.root;
    out.verified = req.proofs.map((p) => {
      try {
        return StandardMerkleTree.verify(root, req.encoding, p.value, p.proof);
      } catch (e) {
        return false;
      }
    });
  }
  if (req.dump) {
    try {
      const loaded = StandardMerkleTree.load(req.dump);
      loaded.validate();
      out.loaded = { root: loaded.root, values: Array.from(loaded.entries()).map(([, v]) => v) };
    } catch (e) {
      out.loaded = { error: String(e.message || e) };
    }
  }
  process.stdout.write(JSON.stringify(out));
});
