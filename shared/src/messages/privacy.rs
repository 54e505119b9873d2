//! Masking personal data for the people who need only a hint of it.

/// `jane.doe@example.com` → `j***@example.com`.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first = local.chars().next().map(String::from).unwrap_or_default();
            format!("{first}***@{domain}")
        }
        None => "***".to_string(),
    }
}

/// Keeps the last four digits: `+86 138 0013 8000` → `*******8000`.
pub fn mask_phone(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    let keep = digits.len().min(4);
    let hidden = digits.len() - keep;
    "*".repeat(hidden.max(3)) + &digits[hidden..].iter().collect::<String>()
}

/// Keeps the first character of each part of a name: `Jane Doe` → `J*** D***`,
/// `Jean-Luc` → `J***-L***`. A part in a script written without spaces (Chinese,
/// Japanese, Korean) is the whole name, family name first, so it keeps that one
/// character and hides the rest behind one `*`: `张三` → `张*`. The number of `*` never
/// depends on the name's length. Nothing left to show → `***`.
pub fn mask_name(name: &str) -> String {
    let words: Vec<String> = name
        .split_whitespace()
        .map(|word| word.split('-').filter_map(mask_part).collect::<Vec<_>>().join("-"))
        .filter(|word| !word.is_empty())
        .collect();
    if words.is_empty() {
        "***".to_string()
    } else {
        words.join(" ")
    }
}

/// A part already masked stays as it is, so masking twice changes nothing.
fn mask_part(part: &str) -> Option<String> {
    let first = part.chars().next()?;
    let masked = match first {
        '*' => "***".to_string(),
        c if is_unspaced_script(c) => format!("{c}*"),
        c => format!("{c}***"),
    };
    Some(masked)
}

/// Han, kana and Hangul: scripts whose names are written as one run of characters.
fn is_unspaced_script(c: char) -> bool {
    matches!(u32::from(c),
        0x1100..=0x11FF       // Hangul Jamo
        | 0x2E80..=0x2FDF     // CJK radicals
        | 0x3040..=0x30FF     // Hiragana, Katakana
        | 0x3130..=0x318F     // Hangul compatibility Jamo
        | 0x3400..=0x4DBF     // CJK extension A
        | 0x4E00..=0x9FFF     // CJK unified ideographs
        | 0xAC00..=0xD7AF     // Hangul syllables
        | 0xF900..=0xFAFF     // CJK compatibility ideographs
        | 0x20000..=0x3134F   // CJK extensions B-G
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_a_hint() {
        assert_eq!(mask_email("jane.doe@example.com"), "j***@example.com");
        assert_eq!(mask_email("nonsense"), "***");
        assert_eq!(mask_phone("+86 138 0013 8000"), "*********8000");
        assert_eq!(mask_phone("12"), "***12");
    }

    #[test]
    fn a_name_keeps_the_first_character_of_each_part() {
        assert_eq!(mask_name("Jane Doe"), "J*** D***");
        assert_eq!(mask_name("Li Lei"), "L*** L***");
        assert_eq!(mask_name("Jean-Luc  Picard"), "J***-L*** P***");
        assert_eq!(mask_name("J"), "J***");
        assert_eq!(mask_name("Bartholomew"), "B***", "the length is not shown");
    }

    #[test]
    fn a_name_in_an_unspaced_script_keeps_its_family_name_character() {
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("欧阳娜娜"), "欧*");
        assert_eq!(mask_name("山田 太郎"), "山* 太*");
        assert_eq!(mask_name("김민준"), "김*");
    }

    #[test]
    fn masking_a_name_is_safe_for_any_text() {
        assert_eq!(mask_name(""), "***");
        assert_eq!(mask_name("   "), "***");
        assert_eq!(mask_name(" - -- "), "***");
        assert_eq!(mask_name("Émile Zola"), "É*** Z***");
        assert_eq!(mask_name("\u{1F600}x"), "\u{1F600}***");
        assert_eq!(mask_name("e\u{301}va"), "e***", "a combining mark is hidden, never split");
        assert_eq!(mask_name("Anne-"), "A***");
        assert_eq!(mask_name("*Jane"), "***");
    }

    #[test]
    fn masking_a_masked_name_changes_nothing() {
        for name in ["Jane Doe", "Jean-Luc Picard", "张三", "山田 太郎", "", "*", "**x*", "Émile"] {
            let once = mask_name(name);
            assert_eq!(mask_name(&once), once, "{name:?}");
        }
    }
}
