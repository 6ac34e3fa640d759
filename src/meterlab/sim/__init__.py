"""The simulated laboratory: real protocol servers on 127.0.0.1 over one physics model on a scalable clock."""
