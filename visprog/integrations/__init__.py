"""Integrations with other frameworks (imported on demand: `visprog.integrations.langchain`)."""
