//! Answers remembered by client token, for the creations AWS makes idempotent by one (a VPC
//! endpoint, a Prometheus workspace): a retry with the token gets the first answer again, where
//! moto would make a second resource.

use std::collections::HashMap;
use std::sync::Mutex;

/// The first successful answer to each client token.
#[derive(Debug)]
pub(crate) struct ClientTokens<A> {
    answers: Mutex<HashMap<String, A>>,
}

impl<A> Default for ClientTokens<A> {
    fn default() -> Self {
        ClientTokens {
            answers: Mutex::new(HashMap::new()),
        }
    }
}

impl<A: Clone> ClientTokens<A> {
    /// The answer given to `token` before, if any.
    pub(crate) fn answered(&self, token: &str) -> Option<A> {
        self.answers
            .lock()
            .expect("not poisoned")
            .get(token)
            .cloned()
    }

    /// Remember `answer` as the one `token` gets from now on.
    pub(crate) fn remember(&self, token: String, answer: A) {
        self.answers
            .lock()
            .expect("not poisoned")
            .insert(token, answer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_gets_its_first_answer_and_others_none() {
        let tokens = ClientTokens::default();
        assert_eq!(tokens.answered("a"), None);
        tokens.remember("a".into(), "first".to_string());
        assert_eq!(tokens.answered("a").as_deref(), Some("first"));
        assert_eq!(tokens.answered("b"), None);
    }
}
