"""Workflow validation: what validate_workflow() found, for people and for the processor.

The checks live in SQL (procedures/03xx–05xx); `turing_db.database.validate_workflow` calls them and
`start_run()` refuses an invalid workflow with the same findings. A workflow is valid when no finding
has severity 'error'; the processor raises `WorkflowInvalid` before it touches any posting.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Finding:
    severity: str  # 'error', 'warning', or 'ok' for the verdict of a valid workflow
    check_name: str
    conversation: str | None
    message: str


@dataclass(frozen=True)
class ValidationReport:
    workflow_id: int
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == "warning"]

    @property
    def valid(self) -> bool:
        return not self.errors

    def as_json(self) -> dict[str, object]:
        return {
            "workflow_id": self.workflow_id,
            "valid": self.valid,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "findings": [asdict(finding) for finding in self.findings if finding.severity != "ok"],
        }


class WorkflowInvalid(Exception):
    """The workflow has definition errors; `report` holds every finding."""

    def __init__(self, report: ValidationReport):
        self.report = report
        lines = "\n".join(f"  {f.check_name} [{f.conversation or '-'}]: {f.message}" for f in report.errors)
        super().__init__(
            f"workflow {report.workflow_id} is invalid ({len(report.errors)} error(s)); nothing was run:\n{lines}"
        )
