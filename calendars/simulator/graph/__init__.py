"""The simulator's Microsoft Graph v1.0 face over the shared store (calendars, free/busy,
events, change tracking, batching), as Exchange Online answers it.

Importing the package registers every module's routes with `routes.dispatch`.
"""
