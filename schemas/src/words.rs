//! Enums stored and sent as one lowercase word (`done`, `create_for_run`):
//! the macro that gives each its `as_str`, `Display`, `FromStr` and list of
//! variants, and the typed error `FromStr` returns.

/// A word that names no variant of the enum it was parsed as.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{word}`")]
pub struct UnknownWord {
    /// What was being parsed (`job status`, `action reason`).
    pub what: &'static str,
    /// The word found.
    pub word: String,
}

/// Declares a word enum: `word_enum! { /// doc  pub enum Name("what") { /// doc  Variant = "word", ... } }`.
/// The words must be what `#[serde(rename_all = "snake_case")]` makes of
/// the variants (a unit test per enum checks the round trip).
#[macro_export]
macro_rules! word_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $word:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The stored and wire word.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $( Self::$variant => $word, )+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::words::UnknownWord;

            fn from_str(word: &str) -> Result<Self, Self::Err> {
                match word {
                    $( $word => Ok(Self::$variant), )+
                    _ => Err($crate::words::UnknownWord { what: $what, word: word.to_string() }),
                }
            }
        }
    };
}
