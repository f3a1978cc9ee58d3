"""The simulator's EWS face: SOAP operations of Exchange 2016/2019 over the shared store."""
