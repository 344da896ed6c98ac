"""Every USSD line in English and Kiswahili. Placeholders are filled by `t()`."""

TEXTS: dict[str, dict[str, str]] = {
    "welcome_new": {
        "en": "Welcome to Kazi Trust.\nChoose language:\n1. English\n2. Kiswahili",
        "sw": "Karibu Kazi Trust.\nChagua lugha:\n1. English\n2. Kiswahili",
    },
    "ask_first_name": {"en": "Enter your first name:", "sw": "Weka jina lako la kwanza:"},
    "ask_last_name": {"en": "Enter your last name:", "sw": "Weka jina lako la mwisho:"},
    "ask_role": {
        "en": "You are:\n1. An employer (I hire)\n2. A worker (I work)",
        "sw": "Wewe ni:\n1. Mwajiri (ninaajiri)\n2. Mfanyakazi (ninafanya kazi)",
    },
    "ask_new_pin": {"en": "Choose a 4-digit PIN:", "sw": "Chagua PIN ya tarakimu 4:"},
    "ask_pin_again": {"en": "Enter the PIN again:", "sw": "Weka PIN tena:"},
    "pins_differ": {
        "en": "The PINs differ. Choose a 4-digit PIN:",
        "sw": "PIN hazifanani. Chagua PIN ya tarakimu 4:",
    },
    "bad_pin_format": {
        "en": "A PIN is 4 digits. Try again:",
        "sw": "PIN ni tarakimu 4. Jaribu tena:",
    },
    "registered": {
        "en": "Registered, {name}. Dial again to start.",
        "sw": "Umesajiliwa, {name}. Piga tena kuanza.",
    },
    "bad_name": {
        "en": "Use 1 to 30 letters. Enter again:",
        "sw": "Tumia herufi 1 hadi 30. Weka tena:",
    },
    "home_employer": {
        "en": "Kazi Trust\n1. My jobs\n2. Settings\n3. Help",
        "sw": "Kazi Trust\n1. Kazi zangu\n2. Mipangilio\n3. Msaada",
    },
    "home_employee": {
        "en": "Kazi Trust\n1. Find work\n2. My jobs\n3. My payments\n4. Settings\n5. Help",
        "sw": "Kazi Trust\n1. Tafuta kazi\n2. Kazi zangu\n3. Malipo yangu\n"
        "4. Mipangilio\n5. Msaada",
    },
    "list_more": {"en": "9. More", "sw": "9. Zaidi"},
    "nav": {"en": "0. Back 00. Home", "sw": "0. Rudi 00. Mwanzo"},
    "no_jobs": {"en": "No jobs yet.", "sw": "Hakuna kazi bado."},
    "no_open_jobs": {
        "en": "No open jobs now. Try later.",
        "sw": "Hakuna kazi sasa. Jaribu baadaye.",
    },
    "no_payouts": {"en": "No payments yet.", "sw": "Hakuna malipo bado."},
    "job_employer": {
        "en": "{title}\nStatus: {status}\nPaid in: KES {funded}/{amount}\n"
        "1. How to pay\n2. M-Pesa prompt\n3. Applicants\n4. Work done",
        "sw": "{title}\nHali: {status}\nImelipwa: KES {funded}/{amount}\n"
        "1. Jinsi ya kulipa\n2. Ombi la M-Pesa\n3. Waombaji\n4. Kazi imeisha",
    },
    "job_open": {
        "en": "{title}\nPay: KES {amount}\nMoney in escrow: {secured}\n1. Apply",
        "sw": "{title}\nMalipo: KES {amount}\nPesa iko salama: {secured}\n1. Omba",
    },
    "job_mine": {
        "en": "{title}\nStatus: {status}\nPay: KES {amount}",
        "sw": "{title}\nHali: {status}\nMalipo: KES {amount}",
    },
    "yes": {"en": "Yes", "sw": "Ndiyo"},
    "no": {"en": "Not yet", "sw": "Bado"},
    "how_to_pay": {
        "en": "M-Pesa > Lipa na M-Pesa > Pay Bill\nBusiness no: {paybill}\nAccount: {account}\n"
        "Amount: KES {amount}",
        "sw": "M-Pesa > Lipa na M-Pesa > Pay Bill\nNambari ya biashara: {paybill}\n"
        "Akaunti: {account}\nKiasi: KES {amount}",
    },
    "nothing_owed": {"en": "This job is fully paid in.", "sw": "Kazi hii imelipiwa yote."},
    "stk_sent": {
        "en": "Check your phone: enter your M-Pesa PIN to pay KES {amount}.",
        "sw": "Angalia simu yako: weka PIN ya M-Pesa kulipa KES {amount}.",
    },
    "no_applicants": {"en": "No applicants yet.", "sw": "Hakuna waombaji bado."},
    "confirm_assign": {
        "en": "Give this job to {name}?\n1. Yes",
        "sw": "Mpe {name} kazi hii?\n1. Ndiyo",
    },
    "assigned": {"en": "{name} now has the job.", "sw": "{name} amepewa kazi."},
    "ask_pin_release": {
        "en": "Enter your PIN to pay KES {amount} to {name}:",
        "sw": "Weka PIN kumlipa {name} KES {amount}:",
    },
    "released": {
        "en": "Done. KES {amount} is on its way to {name}.",
        "sw": "Imekamilika. KES {amount} inatumwa kwa {name}.",
    },
    "wrong_pin": {
        "en": "Wrong PIN. {left} tries left. Enter PIN:",
        "sw": "PIN si sahihi. Majaribio {left} yamebaki. Weka PIN:",
    },
    "pin_locked": {
        "en": "Too many wrong PINs. Try again in 30 minutes, or reset it: Settings > 3.",
        "sw": "PIN nyingi zisizo sahihi. Jaribu baada ya dakika 30, au Mipangilio > 3.",
    },
    "applied": {
        "en": "You applied. The employer will choose.",
        "sw": "Umeomba. Mwajiri atachagua.",
    },
    "payout_line": {"en": "KES {amount} {status} {date}", "sw": "KES {amount} {status} {date}"},
    "settings": {
        "en": "1. Language\n2. Change PIN\n3. Forgot PIN",
        "sw": "1. Lugha\n2. Badilisha PIN\n3. Nimesahau PIN",
    },
    "ask_reset_code": {
        "en": "Enter the code we sent you by SMS:",
        "sw": "Weka nambari tuliyokutumia kwa SMS:",
    },
    "bad_reset_code": {
        "en": "That code is wrong or expired. Dial again to get a new one.",
        "sw": "Nambari si sahihi au imeisha muda. Piga tena upate mpya.",
    },
    "or_sms_pin": {"en": "0. Send me a PIN by SMS", "sw": "0. Nitumie PIN kwa SMS"},
    "registered_sms": {
        "en": "Registered, {name}. Your PIN is on its way by SMS.",
        "sw": "Umesajiliwa, {name}. PIN yako inakuja kwa SMS.",
    },
    "choose_language": {"en": "1. English\n2. Kiswahili", "sw": "1. English\n2. Kiswahili"},
    "language_set": {"en": "Language saved.", "sw": "Lugha imehifadhiwa."},
    "ask_old_pin": {"en": "Enter your current PIN:", "sw": "Weka PIN yako ya sasa:"},
    "pin_changed": {"en": "PIN changed.", "sw": "PIN imebadilishwa."},
    "help": {
        "en": "Kazi Trust keeps the pay safe until the work is done. Help: 0800 000 000",
        "sw": "Kazi Trust inalinda malipo hadi kazi ikamilike. Msaada: 0800 000 000",
    },
    "invalid_choice": {"en": "Invalid choice.", "sw": "Chaguo si sahihi."},
    "error": {
        "en": "Sorry, that did not work: {reason}",
        "sw": "Samahani, imeshindikana: {reason}",
    },
    "expired": {"en": "Session ended. Dial again.", "sw": "Kipindi kimeisha. Piga tena."},
}

STATUS_WORDS = {
    "open": {"en": "open", "sw": "wazi"},
    "assigned": {"en": "assigned", "sw": "imepewa"},
    "in_progress": {"en": "in progress", "sw": "inaendelea"},
    "completed": {"en": "done", "sw": "imekamilika"},
    "cancelled": {"en": "cancelled", "sw": "imesitishwa"},
    "pending": {"en": "pending", "sw": "inasubiri"},
    "processing": {"en": "sending", "sw": "inatumwa"},
    "failed": {"en": "failed", "sw": "imeshindikana"},
}


def t(key: str, lang: str, **values: object) -> str:
    return TEXTS[key].get(lang, TEXTS[key]["en"]).format(**values)


def status_word(status: str, lang: str) -> str:
    return STATUS_WORDS.get(status, {}).get(lang, status)
