//! The AWS EC2 backend. (Built in issue 5; this crate is the leaf that
//! holds the heavy SDK so nothing else rebuilds it.)
