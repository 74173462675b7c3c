"""The dashboard's identity pages: accounts, home, people, profiles, agents, proposals."""
