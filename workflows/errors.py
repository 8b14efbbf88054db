"""The workflows' error base: a refusal of an administrator task, one line for the CLI."""


class WorkflowError(Exception):
    """Base of workflows/ errors: the task was refused before anything was changed, or (named in
    the message) after the step that makes it safe to run again."""


class WrongStateError(WorkflowError):
    """The object is not in a state that allows this task (already enrolled, not enrolled, already revoked)."""


class BadValueError(WorkflowError):
    """A value the task needs is malformed (an agency code, an official's PIN)."""


class ChoiceNeededError(WorkflowError):
    """The task cannot choose for the administrator (more than one issuing CA)."""
