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
        "en": "Kazi Trust\n1. My jobs\n2. Settings\n3. Help\n4. My money",
        "sw": "Kazi Trust\n1. Kazi zangu\n2. Mipangilio\n3. Msaada\n4. Pesa yangu",
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
        "en": "{title}\nStatus: {status}\nPaid in: KES {funded}/{amount}",
        "sw": "{title}\nHali: {status}\nImelipwa: KES {funded}/{amount}",
    },
    "job_open": {
        "en": "{title}\nPay: KES {amount}\nMoney in escrow: {secured}\n1. Apply",
        "sw": "{title}\nMalipo: KES {amount}\nPesa iko salama: {secured}\n1. Omba",
    },
    "job_mine": {"en": "{title}\nPay: KES {amount}", "sw": "{title}\nMalipo: KES {amount}"},
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
    # --- what a job's screen offers ---
    "act_how_to_pay": {"en": "How to pay", "sw": "Jinsi ya kulipa"},
    "act_stk": {"en": "M-Pesa prompt", "sw": "Ombi la M-Pesa"},
    "act_applicants": {"en": "Applicants", "sw": "Waombaji"},
    "act_complete": {"en": "Work done: pay worker", "sw": "Kazi imeisha: mlipe"},
    "act_deliver": {"en": "I finished the work", "sw": "Nimemaliza kazi"},
    "act_dispute": {"en": "Dispute", "sw": "Fungua mzozo"},
    "act_note": {"en": "Add your side", "sw": "Eleza upande wako"},
    "job_changed": {"en": "This job has changed:", "sw": "Kazi hii imebadilika:"},
    # --- where a job stands and what happens next: the employer's view ---
    "e_in_progress": {
        "en": "In progress. KES {held} is held until you confirm the work is done.",
        "sw": "Inaendelea. KES {held} imeshikiliwa hadi uthibitishe kazi imeisha.",
    },
    "e_delivered": {
        "en": "The worker says it is done. KES {held} goes to them on {date} unless you dispute.",
        "sw": "Mfanyakazi anasema imeisha. Atalipwa KES {held} tarehe {date} usipofungua mzozo.",
    },
    "e_resolved": {
        "en": "Decided: KES {to_employee} to the worker, KES {to_employer} back to you.",
        "sw": "Imeamuliwa: KES {to_employee} kwa mfanyakazi, KES {to_employer} kurudi kwako.",
    },
    "e_completed": {
        "en": "Done. KES {amount} released to the worker.",
        "sw": "Imekamilika. KES {amount} imetolewa kwa mfanyakazi.",
    },
    "e_cancelled": {
        "en": "Cancelled. KES {amount} back to you: see Home > 4.",
        "sw": "Imesitishwa. KES {amount} inarudishwa kwako: angalia Mwanzo > 4.",
    },
    "cancelled": {"en": "Cancelled.", "sw": "Imesitishwa."},
    "disputed": {
        "en": "Disputed by {who}. An arbiter will decide; the money stays held till then.",
        "sw": "Mzozo umefunguliwa na {who}. Msuluhishi ataamua; pesa inabaki imeshikiliwa.",
    },
    "who_you": {"en": "you", "sw": "wewe"},
    "who_worker": {"en": "the worker", "sw": "mfanyakazi"},
    "who_employer": {"en": "the employer", "sw": "mwajiri"},
    # --- the worker's view ---
    "w_taken": {
        "en": "The employer chose another worker.",
        "sw": "Mwajiri amemchagua mfanyakazi mwingine.",
    },
    "w_assigned": {
        "en": "The job is yours. Wait until the employer pays it in before you start.",
        "sw": "Kazi ni yako. Subiri mwajiri alipe kwanza kabla ya kuanza.",
    },
    "w_in_progress": {
        "en": "KES {held} is held for you. Say when the work is done.",
        "sw": "KES {held} imeshikiliwa kwa ajili yako. Sema kazi ikiisha.",
    },
    "w_delivered": {
        "en": "You said it is done. Paid to you on {date} unless the employer disputes.",
        "sw": "Umesema imeisha. Utalipwa tarehe {date} mwajiri asipofungua mzozo.",
    },
    "w_resolved": {
        "en": "Decided: KES {to_employee} to you, KES {to_employer} to the employer.",
        "sw": "Imeamuliwa: KES {to_employee} kwako, KES {to_employer} kwa mwajiri.",
    },
    "w_completed": {
        "en": "Done. KES {amount} released to you: see My payments.",
        "sw": "Imekamilika. KES {amount} imetolewa kwako: angalia Malipo yangu.",
    },
    "w_cancelled": {
        "en": "The employer cancelled this job.",
        "sw": "Mwajiri ameisitisha kazi hii.",
    },
    # --- delivering ---
    "ask_pin_deliver": {
        "en": "Tell the employer {title} is done? Enter your PIN:",
        "sw": "Mwambie mwajiri kwamba {title} imeisha? Weka PIN yako:",
    },
    "delivered": {
        "en": "Sent. KES {held} is paid to you on {date} unless the employer disputes.",
        "sw": "Imetumwa. Utalipwa KES {held} tarehe {date} mwajiri asipofungua mzozo.",
    },
    # --- disputing ---
    "ask_dispute_reason": {"en": "Why do you dispute?", "sw": "Kwa nini unafungua mzozo?"},
    "reason_not_done": {"en": "Work not done", "sw": "Kazi haikufanywa"},
    "reason_quality": {"en": "Poor quality", "sw": "Kazi duni"},
    "reason_late": {"en": "Not finished on time", "sw": "Haikuisha kwa wakati"},
    "reason_not_paid": {"en": "Not paid on time", "sw": "Sijalipwa kwa wakati"},
    "reason_extra_work": {"en": "More work than agreed", "sw": "Kazi zaidi ya makubaliano"},
    "reason_unreachable": {"en": "Employer cannot be reached", "sw": "Mwajiri hapatikani"},
    "reason_other": {"en": "Other (type it)", "sw": "Nyingine (andika)"},
    "ask_dispute_text": {"en": "Say briefly what is wrong:", "sw": "Eleza tatizo kwa ufupi:"},
    "bad_text": {"en": "Write 3 to 160 characters:", "sw": "Andika herufi 3 hadi 160:"},
    "ask_pin_dispute": {
        "en": "Dispute {title}? The money stays held until an arbiter decides. Enter your PIN:",
        "sw": "Fungua mzozo kuhusu {title}? Pesa itashikiliwa hadi msuluhishi aamue. "
        "Weka PIN yako:",
    },
    "dispute_raised": {
        "en": "Dispute opened. An arbiter will decide; the money stays held till then. We will "
        "SMS you.",
        "sw": "Mzozo umefunguliwa. Msuluhishi ataamua; pesa inabaki imeshikiliwa hadi hapo. "
        "Tutakutumia SMS.",
    },
    "ask_note": {
        "en": "Write your side for the arbiter:",
        "sw": "Andika upande wako kwa msuluhishi:",
    },
    "note_sent": {"en": "Sent to the arbiter.", "sw": "Imetumwa kwa msuluhishi."},
    # --- the employer's money ---
    "money_held": {"en": "Held in your jobs: KES {amount}", "sw": "Imeshikiliwa: KES {amount}"},
    "money_coming": {"en": "Coming back: KES {amount}", "sw": "Inarudi kwako: KES {amount}"},
    "money_none": {"en": "Nothing sent back to you yet.", "sw": "Hakuna pesa iliyorudishwa bado."},
    "money_line": {"en": "KES {amount} {status} ({kind})", "sw": "KES {amount} {status} ({kind})"},
    "payout_detail": {
        "en": "{title}\n{kind}: KES {amount}\nStatus: {status}, {date}",
        "sw": "{title}\n{kind}: KES {amount}\nHali: {status}, {date}",
    },
    "payout_receipt": {"en": "M-Pesa receipt: {receipt}", "sw": "Risiti ya M-Pesa: {receipt}"},
    "payout_failed_help": {
        "en": "Not sent. We will look into it. Help: 0800 000 000",
        "sw": "Haijatumwa. Tutashughulikia. Msaada: 0800 000 000",
    },
}

# The reasons offered when opening a dispute, by who opens it (then "other", typed). The arbiter
# reads the English label.
DISPUTE_REASONS = {
    "employer": ["reason_not_done", "reason_quality", "reason_late"],
    "employee": ["reason_not_paid", "reason_extra_work", "reason_unreachable"],
}

STATUS_WORDS = {
    "open": {"en": "open", "sw": "wazi"},
    "assigned": {"en": "assigned", "sw": "imepewa"},
    "in_progress": {"en": "in progress", "sw": "inaendelea"},
    "completed": {"en": "done", "sw": "imekamilika"},
    "cancelled": {"en": "cancelled", "sw": "imesitishwa"},
    "delivered": {"en": "delivered", "sw": "imewasilishwa"},
    "disputed": {"en": "disputed", "sw": "ina mzozo"},
    "resolved": {"en": "decided", "sw": "imeamuliwa"},
    "taken": {"en": "taken", "sw": "imechukuliwa"},
    "pending": {"en": "pending", "sw": "inasubiri"},
    "processing": {"en": "sending", "sw": "inatumwa"},
    "failed": {"en": "failed", "sw": "imeshindikana"},
}


# A payout of money back to an employer: its status, what it is (short for lists, long alone).
PAYOUT_WORDS = {
    "pending": {"en": "waiting", "sw": "inasubiri"},
    "processing": {"en": "sending", "sw": "inatumwa"},
    "completed": {"en": "paid", "sw": "imelipwa"},
    "failed": {"en": "failed", "sw": "imeshindikana"},
}
PAYOUT_KINDS = {
    "refund": {"en": "refund", "sw": "rejesho"},
    "surplus": {"en": "overpaid", "sw": "ziada"},
    "dispute_share": {"en": "share", "sw": "mgao"},
}
PAYOUT_KINDS_LONG = {
    "refund": {"en": "Refund (job cancelled)", "sw": "Rejesho (kazi imesitishwa)"},
    "surplus": {"en": "Paid in too much", "sw": "Ziada uliyolipa"},
    "dispute_share": {"en": "Your dispute share", "sw": "Mgao wako wa mzozo"},
}


def t(key: str, lang: str, **values: object) -> str:
    return TEXTS[key].get(lang, TEXTS[key]["en"]).format(**values)


def status_word(status: str, lang: str) -> str:
    return STATUS_WORDS.get(status, {}).get(lang, status)


def word(words: dict[str, dict[str, str]], key: str, lang: str) -> str:
    return words.get(key, {}).get(lang, key)
