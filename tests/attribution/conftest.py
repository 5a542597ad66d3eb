import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """On a shared 2-core box, small CPU ops run far faster single-threaded (no spinning on busy cores).

    Module-scoped, so it also covers module-scoped fixtures (fine-tuning in the slow tests).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
