"""Verify the audit trail's hash chain: exit 0 when intact, 1 with the problems listed."""

import re

from django.core.management.base import BaseCommand, CommandError, CommandParser

from trading.audit import verify_chain

ANCHOR = re.compile(r"^([1-9][0-9]{0,17}):([0-9a-f]{64})$")


def _anchor(text: str) -> tuple[int, str]:
    match = ANCHOR.match(text.strip().lower()) if isinstance(text, str) else None
    if match is None:
        raise CommandError(f"--anchor must be SEQ:HASH (a positive seq and 64 hex digits), got {text!r}")
    return int(match.group(1)), match.group(2)


class Command(BaseCommand):
    help = "Check that no audit entry was edited, deleted or reordered (prints the chain head)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--anchor", help="SEQ:HASH printed by an earlier run: also proves that entry is unchanged"
        )

    def handle(self, *args, **options) -> None:
        anchor = _anchor(options["anchor"]) if options["anchor"] is not None else None
        report = verify_chain(anchor)
        for problem in report.problems:
            self.stderr.write(problem)
        if report.problem_count > len(report.problems):
            self.stderr.write(f"... and {report.problem_count - len(report.problems)} more")
        head = f"{report.head_seq}:{report.head_hash}"
        if not report.ok:
            raise CommandError(
                f"audit trail BROKEN: {report.problem_count} problem(s) in {report.entries} entries"
            )
        self.stdout.write(f"audit trail intact: {report.entries} entries, head {head}")
