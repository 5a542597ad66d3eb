#pragma version ~=0.4.3
"""
@title olab reward distributor
@notice Pays contributors their share of a run's reward pool. Anyone funds a published run's
        pool (ERC-20, pulled with transferFrom) until its first claim; then each
        `(contributor, sharePpm)` leaf of the run's rewards tree is claimable once, with its
        Merkle proof, for `sharePpm * pool / 1_000_000` tokens. Anyone may submit a claim; the
        tokens always go to the contributor.
"""

from ethereum.ercs import IERC20

interface AttributionRegistry:
    def verifyShare(runId: bytes32, contributor: address, sharePpm: uint256, proof: DynArray[bytes32, 64]) -> bool: view
    def isPublished(runId: bytes32) -> bool: view

PPM: constant(uint256) = 1_000_000

event Funded:
    runId: indexed(bytes32)
    funder: indexed(address)
    amount: uint256
    pool: uint256

event Claimed:
    runId: indexed(bytes32)
    contributor: indexed(address)
    submittedBy: indexed(address)
    sharePpm: uint256
    amount: uint256

token: public(IERC20)
registry: public(AttributionRegistry)
pool: public(HashMap[bytes32, uint256])
paidOut: public(HashMap[bytes32, uint256])
claimCount: public(HashMap[bytes32, uint256])
claimed: public(HashMap[bytes32, HashMap[address, bool]])


@deploy
def __init__(token: IERC20, registry: AttributionRegistry):
    self.token = token
    self.registry = registry


@external
def fund(runId: bytes32, amount: uint256):
    """@notice Add `amount` tokens (approved beforehand) to a published run's pool."""
    assert amount > 0, "amount is zero"
    assert staticcall self.registry.isPublished(runId), "run not published"
    assert self.claimCount[runId] == 0, "pool is closed: claims have started"
    self.pool[runId] += amount
    assert extcall self.token.transferFrom(msg.sender, self, amount), "token transfer failed"
    log Funded(runId=runId, funder=msg.sender, amount=amount, pool=self.pool[runId])


@external
@view
def claimable(runId: bytes32, contributor: address, sharePpm: uint256, proof: DynArray[bytes32, 64]) -> uint256:
    """@notice What `claim` would pay now (0 when claimed, unfunded or the proof is wrong)."""
    if self.claimed[runId][contributor] or sharePpm > PPM:
        return 0
    if not staticcall self.registry.verifyShare(runId, contributor, sharePpm, proof):
        return 0
    return sharePpm * self.pool[runId] // PPM


@external
def claim(runId: bytes32, contributor: address, sharePpm: uint256, proof: DynArray[bytes32, 64]) -> uint256:
    """@notice Pay a contributor's share of the run's pool, once; anyone may submit it."""
    funded: uint256 = self.pool[runId]
    assert funded > 0, "run has no funded pool"
    assert not self.claimed[runId][contributor], "share already claimed"
    assert sharePpm > 0, "share is zero: nothing to claim"
    assert sharePpm <= PPM, "sharePpm above 1000000"
    assert staticcall self.registry.verifyShare(runId, contributor, sharePpm, proof), "invalid proof for this share"
    amount: uint256 = sharePpm * funded // PPM
    self.claimed[runId][contributor] = True
    self.claimCount[runId] += 1
    self.paidOut[runId] += amount
    assert extcall self.token.transfer(contributor, amount), "token transfer failed"
    log Claimed(runId=runId, contributor=contributor, submittedBy=msg.sender, sharePpm=sharePpm, amount=amount)
    return amount
