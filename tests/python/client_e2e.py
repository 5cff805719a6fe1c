"""A program using only the Python client generated from the api's OpenAPI document
(`stylize_client`, made by scripts/setup.sh): it submits a photo with a preset, waits
for the job (`Prefer: wait`, then by polling), downloads the picture, lists, cancels and
deletes, checking each answer. Run by the e2e test `openapi::the_generated_python_client_
runs_a_job_end_to_end` against a real stack with one worker:

    python tests/python/client_e2e.py BASE_URL API_KEY PHOTO
"""

import sys
import time

from stylize_client import AuthenticatedClient
from stylize_client.api.jobs import cancel, create, delete, list_, result, show
from stylize_client.models import (
    JobState,
    JobView,
    Problem,
    SubmissionForm,
    SubmissionFormParams,
    SubmissionFormPresetItem,
)
from stylize_client.types import UNSET, File

ENDED = {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELED}


def submit(client, photo, iterations, prefer=UNSET):
    """A job of `photo` in Udnie's style, 64 px: the answer's status and job."""
    with open(photo, "rb") as image:
        form = SubmissionForm(
            content=File(payload=image, file_name="photo.jpg", mime_type="image/jpeg"),
            preset=[SubmissionFormPresetItem.UDNIE],
            params=SubmissionFormParams(size=64, iterations=iterations),
        )
        answer = create.sync_detailed(client=client, body=form, prefer=prefer)
    assert isinstance(answer.parsed, JobView), (answer.status_code, answer.content)
    return answer.status_code, answer.parsed


def poll(client, job_id, limit_seconds=120):
    """The job once it has ended, asked every half second."""
    deadline = time.monotonic() + limit_seconds
    while True:
        job = show.sync(str(job_id), client=client)
        assert isinstance(job, JobView), job
        if job.state in ENDED:
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job.state}"
        time.sleep(0.5)


def main(base_url, key, photo):
    client = AuthenticatedClient(base_url=base_url, token=key, raise_on_unexpected_status=True)

    # Waited for in the request: 201 and the ended job.
    status, waited = submit(client, photo, iterations=6, prefer="wait=60")
    assert status == 201, (status, waited)
    assert waited.state == JobState.SUCCEEDED, waited
    picture = result.sync_detailed(str(waited.id), client=client)
    assert picture.status_code == 200, picture.status_code
    assert picture.content.startswith(b"\x89PNG\r\n\x1a\n"), picture.content[:16]
    print(f"waited: {waited.id} {waited.width}x{waited.height}, {len(picture.content)} bytes")

    # Queued (202), then polled to its end.
    status, queued = submit(client, photo, iterations=6)
    assert status == 202, (status, queued)
    polled = poll(client, queued.id)
    assert polled.state == JobState.SUCCEEDED, polled
    assert polled.links.result == f"/v1/jobs/{queued.id}/result", polled.links
    print(f"polled: {polled.id} {polled.state}")

    # A long job, canceled.
    _, long = submit(client, photo, iterations=3000)
    asked = cancel.sync(str(long.id), client=client)
    assert isinstance(asked, JobView) and asked.cancel_requested, asked
    canceled = poll(client, long.id)
    assert canceled.state == JobState.CANCELED, canceled
    print(f"canceled: {canceled.id}")

    # This key's jobs, newest first.
    page = list_.sync(client=client, limit=10)
    listed = [job.id for job in page.jobs]
    assert listed == [long.id, queued.id, waited.id], listed

    # Deleted: 204, and each one's status is then a problem saying so (410).
    for job_id in listed:
        deleted = delete.sync_detailed(str(job_id), client=client)
        assert deleted.status_code == 204, deleted.status_code
        gone = show.sync_detailed(str(job_id), client=client)
        assert gone.status_code == 410 and isinstance(gone.parsed, Problem), gone
        assert "deleted" in gone.parsed.detail, gone.parsed.detail
    assert list_.sync(client=client).jobs == []
    print("deleted: 3 jobs")


if __name__ == "__main__":
    main(*sys.argv[1:4])
