"""Weekly exposure reports built from storage queries."""
