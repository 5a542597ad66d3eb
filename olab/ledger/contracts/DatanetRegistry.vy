#pragma version ~=0.4.3
"""
@title olab Datanet registry
@notice Datanets and their versions. Each version commits to the Merkle root of its records
        (OpenZeppelin standard leaves `(bytes32 recordHash, address contributor)`). An owner
        registers a Datanet by name; its id is keccak256(abi.encode(registrant, name)), so a
        name is bound to whoever registers it and nobody can squat another's name. The owner or
        curators it names append versions, in increasing version order. A recorded version
        never changes.
"""

struct Version:
    root: bytes32
    parentRoot: bytes32
    recordCount: uint256
    contributorCount: uint256
    metadataHash: bytes32
    uri: String[256]
    appendedBy: address
    timestamp: uint256
    blockNumber: uint256

event DatanetRegistered:
    datanetId: indexed(bytes32)
    owner: indexed(address)
    name: String[64]

event CuratorSet:
    datanetId: indexed(bytes32)
    curator: indexed(address)
    allowed: bool

event OwnershipTransferred:
    datanetId: indexed(bytes32)
    previousOwner: indexed(address)
    newOwner: indexed(address)

event VersionAppended:
    datanetId: indexed(bytes32)
    version: indexed(uint256)
    root: indexed(bytes32)
    parentRoot: bytes32
    recordCount: uint256
    contributorCount: uint256
    metadataHash: bytes32
    uri: String[256]
    appendedBy: address

ownerOf: public(HashMap[bytes32, address])
nameOf: public(HashMap[bytes32, String[64]])
isCurator: public(HashMap[bytes32, HashMap[address, bool]])
versionCount: public(HashMap[bytes32, uint256])
latestVersion: public(HashMap[bytes32, uint256])
_versions: HashMap[bytes32, HashMap[uint256, Version]]


@internal
@pure
def _idOf(registrant: address, name: String[64]) -> bytes32:
    return keccak256(abi_encode(registrant, name))


@external
@pure
def idOf(registrant: address, name: String[64]) -> bytes32:
    """@notice The id of a Datanet: keccak256(abi.encode(registrant, name))."""
    return self._idOf(registrant, name)


@external
def registerDatanet(name: String[64]) -> bytes32:
    """@notice Register a Datanet under the caller's address; the caller becomes its owner."""
    assert len(name) > 0, "datanet name is empty"
    datanet_id: bytes32 = self._idOf(msg.sender, name)
    assert self.ownerOf[datanet_id] == empty(address), "datanet already registered"
    self.ownerOf[datanet_id] = msg.sender
    self.nameOf[datanet_id] = name
    log DatanetRegistered(datanetId=datanet_id, owner=msg.sender, name=name)
    return datanet_id


@external
def setCurator(datanetId: bytes32, curator: address, allowed: bool):
    """@notice Allow (or stop) `curator` appending versions to a Datanet; owner only."""
    assert self.ownerOf[datanetId] == msg.sender, "only the datanet owner may set curators"
    self.isCurator[datanetId][curator] = allowed
    log CuratorSet(datanetId=datanetId, curator=curator, allowed=allowed)


@external
def transferOwnership(datanetId: bytes32, newOwner: address):
    """@notice Hand a Datanet to a new owner; owner only."""
    assert self.ownerOf[datanetId] == msg.sender, "only the datanet owner may transfer it"
    assert newOwner != empty(address), "new owner is the zero address"
    self.ownerOf[datanetId] = newOwner
    log OwnershipTransferred(datanetId=datanetId, previousOwner=msg.sender, newOwner=newOwner)


@external
def appendVersion(
    datanetId: bytes32,
    version: uint256,
    root: bytes32,
    parentRoot: bytes32,
    recordCount: uint256,
    contributorCount: uint256,
    metadataHash: bytes32,
    uri: String[256],
):
    """@notice Record a new version of a Datanet; owner or curator only."""
    owner: address = self.ownerOf[datanetId]
    assert owner != empty(address), "datanet not registered"
    assert msg.sender == owner or self.isCurator[datanetId][msg.sender], "only the datanet owner or a curator may append versions"
    assert root != empty(bytes32), "version root is empty"
    assert self._versions[datanetId][version].root == empty(bytes32), "version already recorded"
    assert self.versionCount[datanetId] == 0 or version > self.latestVersion[datanetId], "version must be greater than the latest recorded version"
    self._versions[datanetId][version] = Version(
        root=root,
        parentRoot=parentRoot,
        recordCount=recordCount,
        contributorCount=contributorCount,
        metadataHash=metadataHash,
        uri=uri,
        appendedBy=msg.sender,
        timestamp=block.timestamp,
        blockNumber=block.number,
    )
    self.versionCount[datanetId] += 1
    self.latestVersion[datanetId] = version
    log VersionAppended(
        datanetId=datanetId,
        version=version,
        root=root,
        parentRoot=parentRoot,
        recordCount=recordCount,
        contributorCount=contributorCount,
        metadataHash=metadataHash,
        uri=uri,
        appendedBy=msg.sender,
    )


@external
@view
def getVersion(datanetId: bytes32, version: uint256) -> Version:
    """@notice A recorded version (all fields zero when it was never recorded)."""
    return self._versions[datanetId][version]
