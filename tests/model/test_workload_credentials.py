"""Tasks' credentials: honoured only under the key that signed them, unaltered, unexpired."""

from __future__ import annotations

import pytest

from daybreak.model.credentials import (
    BadWorkloadCredentialError,
    WorkloadClaims,
    is_workload_credential,
    new_token,
    read_workload,
    sign_workload,
)

KEY = b"k" * 32
CLAIMS = WorkloadClaims(task_id="t-1", role="www", expires_ms=2_000)


def test_a_signed_credential_reads_back_until_it_expires() -> None:
    credential = sign_workload(KEY, CLAIMS)
    assert is_workload_credential(credential) and not is_workload_credential(new_token())
    assert read_workload(KEY, credential, now_ms=1_999) == CLAIMS
    with pytest.raises(BadWorkloadCredentialError, match="t-1 has expired"):
        read_workload(KEY, credential, now_ms=2_000)


def test_another_key_or_an_altered_claim_is_refused() -> None:
    credential = sign_workload(KEY, CLAIMS)
    with pytest.raises(BadWorkloadCredentialError, match="did not sign"):
        read_workload(b"other" * 7, credential, now_ms=0)
    # Another role's claims with this credential's signature.
    other = sign_workload(KEY, WorkloadClaims(task_id="t-1", role="root", expires_ms=2_000))
    forged = ".".join([*other.split(".")[:2], credential.split(".")[2]])
    with pytest.raises(BadWorkloadCredentialError, match="did not sign"):
        read_workload(KEY, forged, now_ms=0)


@pytest.mark.parametrize("credential", ["dbw1.", "dbw1.!!.??", "dbw1.e30.AAAA", "dbw1.a.b.c"])
def test_a_malformed_credential_is_refused_not_a_crash(credential: str) -> None:
    with pytest.raises(BadWorkloadCredentialError):
        read_workload(KEY, credential, now_ms=0)
