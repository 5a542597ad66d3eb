#pragma version ~=0.4.3
"""
@title olab Attribution registry
@notice Run commitments: an authorised publisher publishes a run once (Datanet root, adapter
        hash, scores hash, rewards root, manifest hash) and it never changes. Anyone can check a
        contributor's reward share against the run's rewards root with `verifyShare` (OpenZeppelin
        standard leaf `(address contributor, uint256 sharePpm)`, sorted-pair hashing). Reviewers
        attest once per run to the rewards root they reproduced and how closely.
"""

MAX_PROOF_LENGTH: constant(uint256) = 64
PPM: constant(uint256) = 1_000_000
PPM_SIGNED: constant(int256) = 1_000_000

struct Run:
    datanetRoot: bytes32
    adapterHash: bytes32
    scoresHash: bytes32
    rewardsRoot: bytes32
    manifestHash: bytes32
    publisher: address
    publishedAt: uint256
    blockNumber: uint256

struct Attestation:
    reviewer: address
    rewardsRoot: bytes32
    maxShareDiffPpm: uint256
    rankCorrPpm: int256
    timestamp: uint256

event PublisherSet:
    publisher: indexed(address)
    allowed: bool

event OwnershipTransferred:
    previousOwner: indexed(address)
    newOwner: indexed(address)

event RunPublished:
    runId: indexed(bytes32)
    publisher: indexed(address)
    datanetRoot: indexed(bytes32)
    adapterHash: bytes32
    scoresHash: bytes32
    rewardsRoot: bytes32
    manifestHash: bytes32

event Attested:
    runId: indexed(bytes32)
    reviewer: indexed(address)
    rewardsRoot: bytes32
    maxShareDiffPpm: uint256
    rankCorrPpm: int256
    matchesPublished: bool

owner: public(address)
isPublisher: public(HashMap[address, bool])
runCount: public(uint256)
attestationCount: public(HashMap[bytes32, uint256])
hasAttested: public(HashMap[bytes32, HashMap[address, bool]])
_runs: HashMap[bytes32, Run]
_attestations: HashMap[bytes32, HashMap[uint256, Attestation]]


@deploy
def __init__():
    self.owner = msg.sender
    self.isPublisher[msg.sender] = True
    log PublisherSet(publisher=msg.sender, allowed=True)


@external
def setPublisher(publisher: address, allowed: bool):
    """@notice Authorise (or stop) an address publishing runs; owner only."""
    assert msg.sender == self.owner, "only the owner may set publishers"
    self.isPublisher[publisher] = allowed
    log PublisherSet(publisher=publisher, allowed=allowed)


@external
def transferOwnership(newOwner: address):
    """@notice Hand the registry to a new owner; owner only."""
    assert msg.sender == self.owner, "only the owner may transfer ownership"
    assert newOwner != empty(address), "new owner is the zero address"
    log OwnershipTransferred(previousOwner=self.owner, newOwner=newOwner)
    self.owner = newOwner


@external
def publishRun(
    runId: bytes32,
    datanetRoot: bytes32,
    adapterHash: bytes32,
    scoresHash: bytes32,
    rewardsRoot: bytes32,
    manifestHash: bytes32,
):
    """@notice Publish a run's commitment, once; authorised publishers only."""
    assert self.isPublisher[msg.sender], "caller is not an authorised publisher"
    assert runId != empty(bytes32), "run id is empty"
    assert rewardsRoot != empty(bytes32), "rewards root is empty"
    assert self._runs[runId].publisher == empty(address), "run already published"
    self._runs[runId] = Run(
        datanetRoot=datanetRoot,
        adapterHash=adapterHash,
        scoresHash=scoresHash,
        rewardsRoot=rewardsRoot,
        manifestHash=manifestHash,
        publisher=msg.sender,
        publishedAt=block.timestamp,
        blockNumber=block.number,
    )
    self.runCount += 1
    log RunPublished(
        runId=runId,
        publisher=msg.sender,
        datanetRoot=datanetRoot,
        adapterHash=adapterHash,
        scoresHash=scoresHash,
        rewardsRoot=rewardsRoot,
        manifestHash=manifestHash,
    )


@external
@view
def getRun(runId: bytes32) -> Run:
    """@notice A published run (all fields zero when it was never published)."""
    return self._runs[runId]


@external
@view
def isPublished(runId: bytes32) -> bool:
    return self._runs[runId].publisher != empty(address)


@external
@view
def verifyShare(runId: bytes32, contributor: address, sharePpm: uint256, proof: DynArray[bytes32, MAX_PROOF_LENGTH]) -> bool:
    """@notice True when `(contributor, sharePpm)` is a leaf of the run's rewards tree."""
    root: bytes32 = self._runs[runId].rewardsRoot
    if root == empty(bytes32):
        return False
    node: bytes32 = keccak256(keccak256(abi_encode(contributor, sharePpm)))
    for sibling: bytes32 in proof:
        if convert(node, uint256) < convert(sibling, uint256):
            node = keccak256(concat(node, sibling))
        else:
            node = keccak256(concat(sibling, node))
    return node == root


@external
def attest(runId: bytes32, rewardsRoot: bytes32, maxShareDiffPpm: uint256, rankCorrPpm: int256):
    """@notice Record the caller's reproduction of a run; one attestation per reviewer per run."""
    published: bytes32 = self._runs[runId].rewardsRoot
    assert published != empty(bytes32), "run not published"
    assert msg.sender != self._runs[runId].publisher, "the publisher cannot attest to its own run"
    assert not self.hasAttested[runId][msg.sender], "reviewer already attested to this run"
    assert maxShareDiffPpm <= PPM, "maxShareDiffPpm above 1000000"
    assert rankCorrPpm >= -PPM_SIGNED and rankCorrPpm <= PPM_SIGNED, "rankCorrPpm outside [-1000000, 1000000]"
    index: uint256 = self.attestationCount[runId]
    self._attestations[runId][index] = Attestation(
        reviewer=msg.sender,
        rewardsRoot=rewardsRoot,
        maxShareDiffPpm=maxShareDiffPpm,
        rankCorrPpm=rankCorrPpm,
        timestamp=block.timestamp,
    )
    self.attestationCount[runId] = index + 1
    self.hasAttested[runId][msg.sender] = True
    log Attested(
        runId=runId,
        reviewer=msg.sender,
        rewardsRoot=rewardsRoot,
        maxShareDiffPpm=maxShareDiffPpm,
        rankCorrPpm=rankCorrPpm,
        matchesPublished=rewardsRoot == published,
    )


@external
@view
def getAttestation(runId: bytes32, index: uint256) -> Attestation:
    """@notice The `index`-th attestation to a run (0-based; see `attestationCount`)."""
    assert index < self.attestationCount[runId], "no attestation at this index"
    return self._attestations[runId][index]
