"""The web page: a front end on the breeding service, for a person without Discord."""
