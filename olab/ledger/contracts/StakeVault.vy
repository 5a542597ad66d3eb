#pragma version ~=0.4.3
"""
@title olab stake vault
@notice Contributors stake test tokens behind their records in a registered Datanet, named by its
        DatanetRegistry id (keccak256(abi.encode(registrant, name)), DatanetRegistry.idOf), so two
        Datanets of the same name from different registrants have separate stake. The Datanet's
        owner or one of its curators, if also a run publisher, settles a published run once: each listed contributor's stake is slashed by the given amount (olab
        computes it from rewards.json: each harmful record loses min(deposit per record,
        ceil(harm_ppm * pool / 1_000_000))), never beyond what they staked, and the slashed tokens
        are paid into the run's reward pool. Stake is at risk until a run over its Datanet has been
        settled after the deposit; then its owner withdraws what is left. A contributor nets their
        claim on the pool plus what they withdraw, minus what they staked.
"""

from ethereum.ercs import IERC20

interface AttributionRegistry:
    def isPublished(runId: bytes32) -> bool: view
    def isPublisher(publisher: address) -> bool: view

interface DatanetRegistry:
    def ownerOf(datanetId: bytes32) -> address: view
    def isCurator(datanetId: bytes32, curator: address) -> bool: view

interface RewardDistributor:
    def fund(runId: bytes32, amount: uint256): nonpayable

MAX_SETTLE: constant(uint256) = 512

event Staked:
    datanet: indexed(bytes32)
    contributor: indexed(address)
    amount: uint256
    stake: uint256

event Slashed:
    runId: indexed(bytes32)
    contributor: indexed(address)
    amount: uint256

event Settled:
    runId: indexed(bytes32)
    datanet: indexed(bytes32)
    publisher: indexed(address)
    slashedTotal: uint256

event Withdrawn:
    datanet: indexed(bytes32)
    contributor: indexed(address)
    amount: uint256

token: public(IERC20)
registry: public(AttributionRegistry)
distributor: public(RewardDistributor)
datanets: public(DatanetRegistry)
stake: public(HashMap[bytes32, HashMap[address, uint256]])
lastDeposit: public(HashMap[bytes32, HashMap[address, uint256]])
lastSettled: public(HashMap[bytes32, uint256])
settled: public(HashMap[bytes32, bool])
settledAt: public(HashMap[bytes32, uint256])  # block of a run's settlement (its Settled event), 0 if none
slashed: public(HashMap[bytes32, HashMap[address, uint256]])


@deploy
def __init__(token: IERC20, registry: AttributionRegistry, distributor: RewardDistributor, datanets: DatanetRegistry):
    self.token = token
    self.registry = registry
    self.distributor = distributor
    self.datanets = datanets


@external
def deposit(datanet: bytes32, amount: uint256):
    """@notice Stake `amount` tokens (approved beforehand) behind your records in `datanet` (a registry id)."""
    assert amount > 0, "amount is zero"
    assert staticcall self.datanets.ownerOf(datanet) != empty(address), "datanet not registered: stake under DatanetRegistry.idOf(registrant, name)"
    self.stake[datanet][msg.sender] += amount
    self.lastDeposit[datanet][msg.sender] = block.number
    assert extcall self.token.transferFrom(msg.sender, self, amount), "token transfer failed"
    log Staked(datanet=datanet, contributor=msg.sender, amount=amount, stake=self.stake[datanet][msg.sender])


@external
def settle(
    runId: bytes32, datanet: bytes32, contributors: DynArray[address, MAX_SETTLE], amounts: DynArray[uint256, MAX_SETTLE]
):
    """@notice Slash harmful records' stake for a published run, once, and pay it into the run's pool."""
    assert staticcall self.registry.isPublisher(msg.sender), "only a publisher may settle"
    owner: address = staticcall self.datanets.ownerOf(datanet)
    assert msg.sender == owner or staticcall self.datanets.isCurator(datanet, msg.sender), "only the Datanet's owner or a curator may settle its stake"
    assert staticcall self.registry.isPublished(runId), "run not published"
    assert not self.settled[runId], "run already settled"
    assert len(contributors) == len(amounts), "contributors and amounts differ in length"
    total: uint256 = 0
    for i: uint256 in range(len(contributors), bound=MAX_SETTLE):
        who: address = contributors[i]
        amount: uint256 = amounts[i]
        assert amount <= self.stake[datanet][who], "slash beyond the deposit"
        self.stake[datanet][who] -= amount
        self.slashed[runId][who] += amount
        total += amount
        log Slashed(runId=runId, contributor=who, amount=amount)
    self.settled[runId] = True
    self.settledAt[runId] = block.number
    self.lastSettled[datanet] = block.number
    if total > 0:
        assert extcall self.token.approve(self.distributor.address, total), "token approve failed"
        extcall self.distributor.fund(runId, total)
    log Settled(runId=runId, datanet=datanet, publisher=msg.sender, slashedTotal=total)


@external
def withdraw(datanet: bytes32) -> uint256:
    """@notice Take back your stake in `datanet` once a run settled after your last deposit."""
    amount: uint256 = self.stake[datanet][msg.sender]
    assert amount > 0, "nothing staked"
    assert self.lastSettled[datanet] > self.lastDeposit[datanet][msg.sender], "stake still at risk: no run over this Datanet settled since the last deposit"
    self.stake[datanet][msg.sender] = 0
    assert extcall self.token.transfer(msg.sender, amount), "token transfer failed"
    log Withdrawn(datanet=datanet, contributor=msg.sender, amount=amount)
    return amount
