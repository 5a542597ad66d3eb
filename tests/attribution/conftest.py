import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    """On a shared 2-core box, small CPU ops run far faster single-threaded (no spinning on busy cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
